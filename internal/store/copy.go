package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
)

// Whole-table access for tools that move an installation between databases
// (glucoshare copy). Tables and columns are read from the database itself,
// so tables added by later migrations need no change here. Values cross
// engines in one canonical form: integers (booleans as 0 and 1) as int64,
// text as string, blobs as []byte, reals as float64, NULL as nil.
//
// Introspection is the one part that differs per engine; it lives here, in
// copyDialects, rather than in sqlite.go and postgres.go, because nothing
// else uses it.

// Kind is a column's type as whole-table tools see it.
type Kind int

// The column kinds. Booleans are INTEGER 0/1 on SQLite and BOOLEAN on
// PostgreSQL; both read as integers.
const (
	KindInteger Kind = iota + 1
	KindBoolean
	KindText
	KindBlob
	KindReal
)

var kindNames = map[Kind]string{KindInteger: "integer", KindBoolean: "boolean", KindText: "text",
	KindBlob: "blob", KindReal: "real"}

func (k Kind) String() string { return kindNames[k] }

// Compatible reports whether values of kind k can be stored in a column of
// kind other without loss.
func (k Kind) Compatible(other Kind) bool {
	integral := func(k Kind) bool { return k == KindInteger || k == KindBoolean }
	return k == other || integral(k) && integral(other)
}

// Column is one column of a table.
type Column struct {
	Name string
	Kind Kind
}

// Table is one table of the schema, without schema_migrations and the
// change log (change_log, and PostgreSQL's change_log_pruned_xid and
// change_log_lease), which belong to the engine rather than to the data.
type Table struct {
	Name    string
	Columns []Column
	// Key is the primary key, or every column when the table has none:
	// rows are read in this order.
	Key []string
	// Refs are the other tables its foreign keys name.
	Refs []string
}

// ColumnNames returns the names of t's columns in table order.
func (t Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

func (t Table) column(name string) (Column, bool) {
	i := slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == name })
	if i < 0 {
		return Column{}, false
	}
	return t.Columns[i], true
}

// TableTx is a transaction for whole-table reads and writes.
type TableTx struct {
	tx  *sql.Tx
	ctx context.Context
	db  *DB
}

// ReadTables runs fn in one read-only transaction, which sees a consistent
// snapshot of every table.
func (db *DB) ReadTables(ctx context.Context, fn func(*TableTx) error) error {
	return db.runTables(ctx, db.reader, db.d.readTx, fn)
}

// WriteTables runs fn in one read-write transaction and commits when fn
// returns nil. Unlike Update it never runs fn again.
func (db *DB) WriteTables(ctx context.Context, fn func(*TableTx) error) error {
	return db.runTables(ctx, db.writer, db.d.writeTx, fn)
}

func (db *DB) runTables(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(*TableTx) error) error {
	if db.closed.Load() {
		return errClosed
	}
	sqlTx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return db.mapError(err)
	}
	defer sqlTx.Rollback()
	if err := fn(&TableTx{tx: sqlTx, ctx: ctx, db: db}); err != nil {
		return err
	}
	return db.mapError(sqlTx.Commit())
}

// copyDialect is the per-engine part of whole-table access.
type copyDialect struct {
	tableNames, columns, primaryKey, references string
	// kind maps a declared or reported column type to a Kind.
	kind func(typ string) (Kind, bool)
	// textOrder follows text columns in ORDER BY, so that both engines
	// sort text by bytes (SQLite's BINARY is the default).
	textOrder string
	// insertOverride follows the column list of INSERT, so that explicit
	// values win over identity columns.
	insertOverride string
	// syncSequence, when set, moves a column's sequence past the copied
	// values; its placeholders are the quoted table name and the column.
	syncSequence func(table, column string) string
}

var copyDialects = map[string]*copyDialect{
	"sqlite": {
		tableNames: `SELECT name FROM sqlite_schema WHERE type = 'table'
			AND name NOT LIKE 'sqlite!_%' ESCAPE '!' AND name NOT IN ('schema_migrations', 'change_log')
			ORDER BY name`,
		columns:    `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`,
		primaryKey: `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`,
		references: `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`,
		kind:       sqliteKind,
	},
	"postgres": {
		tableNames: `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
			AND table_name NOT IN ('schema_migrations', 'change_log', 'change_log_pruned_xid', 'change_log_lease')
			ORDER BY table_name`,
		columns: `SELECT column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`,
		primaryKey: `SELECT k.column_name FROM information_schema.table_constraints c
			JOIN information_schema.key_column_usage k ON k.constraint_schema = c.constraint_schema
				AND k.constraint_name = c.constraint_name AND k.table_name = c.table_name
			WHERE c.table_schema = current_schema() AND c.table_name = ?
				AND c.constraint_type = 'PRIMARY KEY'
			ORDER BY k.ordinal_position`,
		references: `SELECT DISTINCT r.relname FROM pg_constraint k
			JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
			WHERE k.contype = 'f' AND t.relnamespace = current_schema()::regnamespace AND t.relname = ?`,
		kind:           postgresKind,
		textOrder:      ` COLLATE "C"`,
		insertOverride: ` OVERRIDING SYSTEM VALUE`,
		syncSequence: func(table, column string) string {
			return fmt.Sprintf(`SELECT setval(seq, COALESCE((SELECT MAX(%s) FROM %s), 0) + 1, false)
				FROM (SELECT pg_get_serial_sequence(?, ?) AS seq) s WHERE seq IS NOT NULL`,
				quoteIdent(column), quoteIdent(table))
		},
	},
}

// sqliteKind applies SQLite's type affinity rules to a declared type.
func sqliteKind(typ string) (Kind, bool) {
	t := strings.ToUpper(typ)
	switch {
	case strings.Contains(t, "INT"):
		return KindInteger, true
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return KindText, true
	case t == "", strings.Contains(t, "BLOB"):
		return KindBlob, true
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return KindReal, true
	case strings.Contains(t, "BOOL"):
		return KindBoolean, true
	}
	return 0, false
}

func postgresKind(typ string) (Kind, bool) {
	switch typ {
	case "bigint", "integer", "smallint":
		return KindInteger, true
	case "boolean":
		return KindBoolean, true
	case "text", "character varying", "character":
		return KindText, true
	case "bytea":
		return KindBlob, true
	case "double precision", "real":
		return KindReal, true
	}
	return 0, false
}

func (t *TableTx) dialect() *copyDialect { return copyDialects[t.db.d.name] }

func (t *TableTx) texts(q string, args ...any) ([]string, error) {
	rows, err := t.tx.QueryContext(t.ctx, t.db.rebind(q), args...)
	if err != nil {
		return nil, t.db.mapError(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, t.db.mapError(err)
		}
		out = append(out, s)
	}
	return out, t.db.mapError(rows.Err())
}

// Tables describes every table but schema_migrations, ordered so that each
// table comes after the tables its foreign keys name.
func (t *TableTx) Tables() ([]Table, error) {
	names, err := t.texts(t.dialect().tableNames)
	if err != nil {
		return nil, err
	}
	tables := make([]Table, 0, len(names))
	for _, name := range names {
		tb, err := t.describe(name)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		tables = append(tables, tb)
	}
	return foreignKeyOrder(tables)
}

func (t *TableTx) describe(name string) (Table, error) {
	d := t.dialect()
	tb := Table{Name: name}
	rows, err := t.tx.QueryContext(t.ctx, t.db.rebind(d.columns), name)
	if err != nil {
		return tb, t.db.mapError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			return tb, t.db.mapError(err)
		}
		kind, ok := d.kind(typ)
		if !ok {
			return tb, fmt.Errorf("column %s: type %q is not supported", col, typ)
		}
		tb.Columns = append(tb.Columns, Column{Name: col, Kind: kind})
	}
	if err := rows.Err(); err != nil {
		return tb, t.db.mapError(err)
	}
	if tb.Key, err = t.texts(d.primaryKey, name); err != nil {
		return tb, err
	}
	if len(tb.Key) == 0 {
		tb.Key = tb.ColumnNames()
	}
	refs, err := t.texts(d.references, name)
	tb.Refs = slices.DeleteFunc(refs, func(r string) bool { return r == name })
	return tb, err
}

// foreignKeyOrder sorts tables topologically, parents first and otherwise
// by name.
func foreignKeyOrder(tables []Table) ([]Table, error) {
	slices.SortFunc(tables, func(a, b Table) int { return cmp.Compare(a.Name, b.Name) })
	done := map[string]bool{}
	ordered := make([]Table, 0, len(tables))
	for len(ordered) < len(tables) {
		progress := false
		for _, tb := range tables {
			if done[tb.Name] || !allDone(tb.Refs, done) {
				continue
			}
			done[tb.Name] = true
			ordered = append(ordered, tb)
			progress = true
			break // restart, so that ties go by name
		}
		if !progress {
			return nil, fmt.Errorf("the foreign keys between the tables form a cycle")
		}
	}
	return ordered, nil
}

func allDone(names []string, done map[string]bool) bool {
	for _, n := range names {
		if !done[n] {
			return false
		}
	}
	return true
}

// FirstNonEmpty returns the first of tables that has rows, and how many;
// "" when all are empty.
func (t *TableTx) FirstNonEmpty(tables []Table) (string, int64, error) {
	for _, tb := range tables {
		var n int64
		err := t.tx.QueryRowContext(t.ctx, `SELECT COUNT(*) FROM `+quoteIdent(tb.Name)).Scan(&n)
		if err != nil {
			return "", 0, t.db.mapError(err)
		}
		if n > 0 {
			return tb.Name, n, nil
		}
	}
	return "", 0, nil
}

// Scan calls fn with every row of tb in key order, the columns in tb's
// order and the values in canonical form. fn must not keep row.
func (t *TableTx) Scan(tb Table, fn func(row []any) error) error {
	order := make([]string, len(tb.Key))
	for i, k := range tb.Key {
		col, ok := tb.column(k)
		if !ok {
			return fmt.Errorf("table %s: key column %s is not a column", tb.Name, k)
		}
		order[i] = quoteIdent(k)
		if col.Kind == KindText {
			order[i] += t.dialect().textOrder
		}
		order[i] += " NULLS FIRST"
	}
	q := fmt.Sprintf(`SELECT %s FROM %s ORDER BY %s`,
		quoteIdents(tb.ColumnNames()), quoteIdent(tb.Name), strings.Join(order, ", "))
	rows, err := t.tx.QueryContext(t.ctx, q)
	if err != nil {
		return t.db.mapError(err)
	}
	defer rows.Close()
	row := make([]any, len(tb.Columns))
	ptrs := make([]any, len(tb.Columns))
	for i := range row {
		ptrs[i] = &row[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return t.db.mapError(err)
		}
		for i, c := range tb.Columns {
			if row[i], err = canonical(c.Kind, row[i]); err != nil {
				return fmt.Errorf("table %s, column %s: %w", tb.Name, c.Name, err)
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return t.db.mapError(rows.Err())
}

// canonical converts a value read from the driver into the canonical form
// of its column's kind.
func canonical(kind Kind, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		if kind == KindInteger || kind == KindBoolean {
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case int64:
		if kind == KindInteger || kind == KindBoolean {
			return x, nil
		}
		if kind == KindReal {
			return float64(x), nil
		}
	case float64:
		if kind == KindReal {
			return x, nil
		}
	case string:
		switch kind {
		case KindText:
			return x, nil
		case KindBlob:
			return []byte(x), nil
		}
	case []byte:
		switch kind {
		case KindText:
			return string(x), nil
		case KindBlob:
			return x, nil
		}
	}
	return nil, fmt.Errorf("a %T value in a %s column", v, kind)
}

// Insert stores rows, in canonical form with tb's columns, into this
// database's table of the same name, whose columns may be in another order
// and of other compatible kinds (described by into).
func (t *TableTx) Insert(tb, into Table, rows [][]any) error {
	kinds := make([]Kind, len(tb.Columns))
	for i, c := range tb.Columns {
		target, ok := into.column(c.Name)
		if !ok || !c.Kind.Compatible(target.Kind) {
			return fmt.Errorf("table %s: column %s (%s) has no compatible column here", tb.Name, c.Name, c.Kind)
		}
		kinds[i] = target.Kind
	}
	per := max(1, min(maxReadingsPerInsert, t.db.d.maxParams/len(tb.Columns)))
	for chunk := range slices.Chunk(rows, per) {
		args := make([]any, 0, len(chunk)*len(tb.Columns))
		for _, row := range chunk {
			for i, v := range row {
				if kinds[i] == KindBoolean && v != nil {
					v = v.(int64) != 0
				}
				args = append(args, v)
			}
		}
		if _, err := t.tx.ExecContext(t.ctx, t.insertSQL(tb, len(chunk)), args...); err != nil {
			return fmt.Errorf("table %s: %w", tb.Name, t.db.mapError(err))
		}
	}
	return nil
}

func (t *TableTx) insertSQL(tb Table, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(tb.Columns)), ",") + ")"
	q := fmt.Sprintf(`INSERT INTO %s (%s)%s VALUES %s`, quoteIdent(tb.Name), quoteIdents(tb.ColumnNames()),
		t.dialect().insertOverride, strings.TrimSuffix(strings.Repeat(one+",", rows), ","))
	return t.db.rebind(q)
}

// SyncSequences moves the sequences behind tb's columns, if any, past the
// values copied into them, so that later inserts do not collide. SQLite
// keeps AUTOINCREMENT counters itself.
func (t *TableTx) SyncSequences(tb Table) error {
	sync := t.dialect().syncSequence
	if sync == nil {
		return nil
	}
	for _, c := range tb.Columns {
		if c.Kind != KindInteger {
			continue
		}
		if _, err := t.tx.ExecContext(t.ctx, t.db.rebind(sync(tb.Name, c.Name)),
			quoteIdent(tb.Name), c.Name); err != nil {
			return fmt.Errorf("table %s, column %s: %w", tb.Name, c.Name, t.db.mapError(err))
		}
	}
	return nil
}

// Checksum reads tb and returns its row count and checksum (see Checksum).
func (t *TableTx) Checksum(tb Table) (int64, string, error) {
	sum := NewChecksum()
	err := t.Scan(tb, func(row []any) error {
		sum.Add(row)
		return nil
	})
	return sum.Rows(), sum.String(), err
}

// Checksum is a SHA-256 over rows in canonical form, fed in key order, so
// that a table holding the same data gives the same checksum on either
// engine. Each value is written as a type letter and its text with a
// length or terminator, so that no two rows render alike: N (NULL), I
// (integers and booleans as 0/1), R (reals, shortest round-trip form), T
// (text) and B (blob bytes).
type Checksum struct {
	h    hash.Hash
	rows int64
	buf  []byte
}

// NewChecksum returns an empty checksum.
func NewChecksum() *Checksum { return &Checksum{h: sha256.New()} }

// Add adds a row in canonical form.
func (c *Checksum) Add(row []any) {
	b := c.buf[:0]
	for _, v := range row {
		switch x := v.(type) {
		case nil:
			b = append(b, 'N', ';')
		case int64:
			b = append(strconv.AppendInt(append(b, 'I'), x, 10), ';')
		case float64:
			b = append(strconv.AppendFloat(append(b, 'R'), x, 'g', -1, 64), ';')
		case string:
			b = append(append(strconv.AppendInt(append(b, 'T'), int64(len(x)), 10), ':'), x...)
		case []byte:
			b = append(append(strconv.AppendInt(append(b, 'B'), int64(len(x)), 10), ':'), x...)
		default:
			panic(fmt.Sprintf("store: checksum of a non-canonical %T", v))
		}
	}
	b = append(b, '\n')
	c.h.Write(b)
	c.buf = b
	c.rows++
}

// Rows returns how many rows were added.
func (c *Checksum) Rows() int64 { return c.rows }

// String returns the checksum in hexadecimal.
func (c *Checksum) String() string { return hex.EncodeToString(c.h.Sum(nil)) }

// quoteIdent quotes a name read from the schema for both engines.
func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func quoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}
