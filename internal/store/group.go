package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Group commit (SQLite). The single writer connection makes every Update
// wait for the previous one's COMMIT, whose fsync (synchronous=FULL)
// dominates a small write. So Updates that arrive while a commit is on its
// way are run together in the next write transaction. An fn that fails
// leaves none of its changes and is answered with its error (runGroup says
// how); the others are answered only after the one COMMIT returned, so a
// nil answer still means durable. The batch is whatever queued during the
// previous commit, plus, when commits follow each other closely, what
// arrives within a millisecond.

// maxGroup bounds the Updates of one transaction.
const maxGroup = 256

// A committer that committed less than groupBusy ago waits up to
// groupLinger for more Updates before it begins the next transaction.
const (
	groupBusy   = 2 * time.Millisecond
	groupLinger = time.Millisecond
)

// groupReq is one Update waiting for the committer.
type groupReq struct {
	ctx  context.Context
	fn   func(glucose.Tx) error
	done chan groupResult
}

type groupResult struct {
	err      error
	panicked any // fn's panic, re-raised in the caller's goroutine
	didPanic bool
}

// startGroupCommit starts the committer goroutine of the writer.
func (db *DB) startGroupCommit() {
	db.groupReqs = make(chan *groupReq) // unbuffered: a taken request is always answered
	db.groupQuit = make(chan struct{})
	db.groupDone = make(chan struct{})
	go db.committer()
}

// stopGroupCommit makes later Updates fail and waits for the batch in
// progress.
func (db *DB) stopGroupCommit() {
	if db.groupReqs == nil {
		return
	}
	close(db.groupQuit)
	<-db.groupDone
}

// updateGrouped is Update on SQLite.
func (db *DB) updateGrouped(ctx context.Context, fn func(glucose.Tx) error) error {
	r := &groupReq{ctx: ctx, fn: fn, done: make(chan groupResult, 1)}
	select {
	case db.groupReqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.groupQuit:
		return errClosed
	}
	res := <-r.done
	if res.didPanic {
		panic(res.panicked)
	}
	return res.err
}

func (db *DB) committer() {
	defer close(db.groupDone)
	var lastCommit time.Time
	for {
		var batch []*groupReq
		select {
		case r := <-db.groupReqs:
			batch = append(batch, r)
		case <-db.groupQuit:
			return
		}
		// Busy (the last commit ended moments ago): linger a little for
		// more Updates, since each commit costs an fsync and several page
		// writes whatever it holds. Idle: commit at once.
		var linger <-chan time.Time
		if time.Since(lastCommit) < groupBusy {
			linger = time.After(groupLinger)
		}
	more:
		for len(batch) < maxGroup {
			select {
			case r := <-db.groupReqs:
				batch = append(batch, r)
				continue
			default:
			}
			if linger == nil {
				break
			}
			select {
			case r := <-db.groupReqs:
				batch = append(batch, r)
			case <-linger:
				break more
			}
		}
		db.runGroup(batch)
		lastCommit = time.Now()
	}
}

// runGroup runs batch in one transaction and answers every request.
//
// A batch usually fails nowhere, so it first runs without savepoints,
// which cost two statements per Update. When an fn fails in that pass,
// the whole transaction rolls back and the batch runs again with a
// savepoint per Update (fn may run more than once: glucose.Store); after
// such a batch the next one takes savepoints at once, so that a client
// whose Updates keep failing cannot make every batch run twice.
func (db *DB) runGroup(batch []*groupReq) {
	if len(batch) > 1 && !db.groupFailed {
		db.onGroupPass(len(batch), false)
		var answered bool
		if batch, answered = db.runWithoutSavepoints(batch); answered {
			return
		}
	}
	sqlTx, err := db.writer.BeginTx(context.Background(), db.d.writeTx)
	if err != nil {
		answerAll(batch, db.mapError(err))
		return
	}
	defer sqlTx.Rollback() // a no-op after Commit
	db.onGroupPass(len(batch), len(batch) > 1)
	if len(batch) == 1 {
		db.runAlone(sqlTx, batch[0])
		return
	}
	var ok []*groupReq // answered after COMMIT
	failed := false
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- groupResult{err: err}
			continue
		}
		res, broken := db.runSavepoint(sqlTx, r)
		switch {
		case broken != nil:
			// The transaction cannot go on: nothing in it commits.
			r.done <- res
			answerAll(ok, broken)
			answerAll(remaining(batch, r), broken)
			return
		case res.err != nil || res.didPanic:
			r.done <- res
			failed = true
		default:
			ok = append(ok, r)
		}
	}
	db.groupFailed = failed
	answerAll(ok, db.mapError(sqlTx.Commit()))
}

// runWithoutSavepoints runs batch in one transaction without savepoints.
// answered reports that it answered every request. Otherwise an fn
// failed, the transaction rolled back, and rest is what still waits for an
// answer: every request but those whose context ended before their fn ran.
func (db *DB) runWithoutSavepoints(batch []*groupReq) (rest []*groupReq, answered bool) {
	sqlTx, err := db.writer.BeginTx(context.Background(), db.d.writeTx)
	if err != nil {
		answerAll(batch, db.mapError(err))
		return nil, true
	}
	defer sqlTx.Rollback() // a no-op after Commit
	ran := make([]*groupReq, 0, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- groupResult{err: err}
			continue
		}
		if res := db.runFn(sqlTx, r); res.err != nil || res.didPanic {
			db.groupFailed = true
			return append(append(ran, r), batch[i+1:]...), false
		}
		ran = append(ran, r)
	}
	answerAll(ran, db.mapError(sqlTx.Commit()))
	return nil, true
}

// runAlone runs the only request of a batch: it needs no savepoint, since
// when its fn fails the whole transaction rolls back (runGroup's deferred
// Rollback).
func (db *DB) runAlone(sqlTx *sql.Tx, r *groupReq) {
	if err := r.ctx.Err(); err != nil {
		r.done <- groupResult{err: err}
		return
	}
	if res := db.runFn(sqlTx, r); res.err != nil || res.didPanic {
		r.done <- res
		return
	}
	r.done <- groupResult{err: db.mapError(sqlTx.Commit())}
}

// runFn runs r's fn in the transaction, catching its panic.
func (db *DB) runFn(sqlTx *sql.Tx, r *groupReq) (res groupResult) {
	t := &tx{tx: sqlTx, sqlTx: sqlTx, ctx: r.ctx, db: db, stmts: db.writerStmts}
	defer func() {
		if p := recover(); p != nil {
			res = groupResult{panicked: p, didPanic: true}
		}
	}()
	res.err = r.fn(t)
	return res
}

// runSavepoint runs one request's fn inside a savepoint. broken is set when
// the savepoint itself failed, leaving the transaction unusable.
func (db *DB) runSavepoint(sqlTx *sql.Tx, r *groupReq) (res groupResult, broken error) {
	if err := db.groupExec(sqlTx, r.ctx, "SAVEPOINT grouped"); err != nil {
		err = db.mapError(err)
		return groupResult{err: err}, err
	}
	res = db.runFn(sqlTx, r)
	if res.err != nil || res.didPanic {
		// Background: the rollback must run even when r.ctx was cancelled.
		err := db.groupExec(sqlTx, context.Background(), "ROLLBACK TO SAVEPOINT grouped")
		if err == nil {
			err = db.groupExec(sqlTx, context.Background(), "RELEASE SAVEPOINT grouped")
		}
		if err != nil {
			return res, fmt.Errorf("%w: rolling back an update: %w", glucose.ErrUnavailable, err)
		}
		return res, nil
	}
	if err := db.groupExec(sqlTx, context.Background(), "RELEASE SAVEPOINT grouped"); err != nil {
		err = db.mapError(err)
		return groupResult{err: err}, err
	}
	return res, nil
}

// groupExec runs one of the savepoint statements, prepared once on the
// writer: each Update runs two of them.
func (db *DB) groupExec(sqlTx *sql.Tx, ctx context.Context, q string) error {
	if s := db.writerStmts.get(q); s != nil {
		_, err := sqlTx.StmtContext(ctx, s).ExecContext(ctx)
		return err
	}
	_, err := sqlTx.ExecContext(ctx, q)
	return err
}

func remaining(batch []*groupReq, after *groupReq) []*groupReq {
	for i, r := range batch {
		if r == after {
			return batch[i+1:]
		}
	}
	return nil
}

func answerAll(rs []*groupReq, err error) {
	for _, r := range rs {
		r.done <- groupResult{err: err}
	}
}

// onGroupPass tells the test hook of a pass over a batch.
func (db *DB) onGroupPass(size int, savepoints bool) {
	if db.groupHook != nil {
		db.groupHook(size, savepoints)
	}
}
