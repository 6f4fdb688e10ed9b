package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/glucoshare/glucoshare/internal/store"
)

const copyUsage = `Usage: glucoshare copy --from DSN --to DSN

Copies a glucoshare database into another, for example a small SQLite
installation into PostgreSQL before running several instances:

  glucoshare copy --from sqlite:/var/lib/glucoshare/glucoshare.db \
      --to 'postgres://glucoshare@db.example.org/glucoshare'

Stop the servers first: the copy reads one consistent snapshot of the
source, and changes made after it started are not copied. The source is
only read, and must have this binary's schema (run glucoshare migrate on it
first). The target is created or migrated, and must hold no data yet. Every
table is copied in one transaction; then each is verified by its row count
and a SHA-256 checksum computed on both sides, and the command fails if any
table differs.
`

// copyBatch is how many rows go to the target at a time.
const copyBatch = 1000

func runCopy(ctx context.Context, args []string, env Env) error {
	var from, to string
	fs := flagSet("copy", copyUsage, env)
	fs.StringVar(&from, "from", "", "source database: a SQLite file path (or sqlite:PATH), or a postgres:// URL")
	fs.StringVar(&to, "to", "", "target database, as --from")
	if err := parse(fs, args, env); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case from == "" || to == "":
		return fmt.Errorf("%w: --from and --to are required", errUsage)
	case from == to:
		return fmt.Errorf("%w: --from and --to name the same database", errUsage)
	}
	src, err := openCopySource(ctx, from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openCopyTarget(ctx, to)
	if err != nil {
		return err
	}
	defer dst.Close()

	fmt.Fprintf(env.Stdout, "copying %s (%s) to %s (%s)\n", maskDSN(from), src.Dialect(), maskDSN(to), dst.Dialect())
	results, err := copyTables(ctx, src, dst)
	if err != nil {
		return err
	}
	if err := verifyCopy(ctx, dst, results); err != nil {
		return err
	}
	return reportCopy(env.Stdout, results)
}

// noTimeout lifts PostgreSQL's statement timeout: the copy reads each table
// in one statement while it writes the rows to the target.
var noTimeout = store.Options{StatementTimeout: -1}

func openCopySource(ctx context.Context, dsn string) (*store.DB, error) {
	// Opening a missing SQLite file would create an empty one.
	if path, ok := sqlitePath(dsn); ok {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("source database %s does not exist", path)
		}
	}
	src, err := store.Open(ctx, dsn, noTimeout)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if err := src.CheckSchema(ctx); err != nil {
		src.Close()
		return nil, fmt.Errorf("source: %w", err)
	}
	return src, nil
}

func openCopyTarget(ctx context.Context, dsn string) (*store.DB, error) {
	dst, err := store.Open(ctx, dsn, noTimeout)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if _, _, err := dst.Migrate(ctx); err != nil {
		dst.Close()
		return nil, fmt.Errorf("target: %w", err)
	}
	return dst, nil
}

// sqlitePath returns the file a plain-path or sqlite: DSN names.
func sqlitePath(dsn string) (string, bool) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") ||
		strings.HasPrefix(dsn, "file:") {
		return "", false
	}
	return strings.TrimPrefix(dsn, "sqlite:"), true
}

// tableCopy is one table's copy and verification.
type tableCopy struct {
	table            store.Table // as the source describes it
	fromRows, toRows int64
	fromSum, toSum   string
}

func (c tableCopy) ok() bool { return c.fromRows == c.toRows && c.fromSum == c.toSum }

// copyTables copies every table, parents first, from one snapshot of src
// into one transaction on dst, checksumming the source rows on the way.
func copyTables(ctx context.Context, src, dst *store.DB) ([]tableCopy, error) {
	var results []tableCopy
	err := src.ReadTables(ctx, func(from *store.TableTx) error {
		tables, err := from.Tables()
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		return dst.WriteTables(ctx, func(to *store.TableTx) error {
			into, err := to.Tables()
			if err != nil {
				return fmt.Errorf("target: %w", err)
			}
			if err := sameSchema(tables, into); err != nil {
				return err
			}
			if name, n, err := to.FirstNonEmpty(into); err != nil || name != "" {
				return errors.Join(err, notEmpty(name, n))
			}
			results = results[:0]
			for _, tb := range tables {
				c, err := copyTable(from, to, tb, into[slices.IndexFunc(into, sameName(tb))])
				if err != nil {
					return err
				}
				results = append(results, c)
			}
			return nil
		})
	})
	return results, err
}

func notEmpty(table string, rows int64) error {
	if table == "" {
		return nil
	}
	return fmt.Errorf("target database is not empty (table %s has %d rows): glucoshare copy only fills a new database", table, rows)
}

func sameName(tb store.Table) func(store.Table) bool {
	return func(other store.Table) bool { return other.Name == tb.Name }
}

// sameSchema checks that both databases have the same tables with the
// same columns, of compatible kinds.
func sameSchema(from, to []store.Table) error {
	if len(from) != len(to) {
		return fmt.Errorf("source and target have different tables: %d and %d", len(from), len(to))
	}
	for _, tb := range from {
		i := slices.IndexFunc(to, sameName(tb))
		if i < 0 {
			return fmt.Errorf("table %s is missing from the target", tb.Name)
		}
		if len(tb.Columns) != len(to[i].Columns) {
			return fmt.Errorf("table %s has different columns in source and target", tb.Name)
		}
		for _, c := range tb.Columns {
			j := slices.IndexFunc(to[i].Columns, func(o store.Column) bool { return o.Name == c.Name })
			if j < 0 || !c.Kind.Compatible(to[i].Columns[j].Kind) {
				return fmt.Errorf("table %s: column %s (%s) has no compatible column in the target", tb.Name, c.Name, c.Kind)
			}
		}
	}
	return nil
}

func copyTable(from, to *store.TableTx, tb, into store.Table) (tableCopy, error) {
	sum := store.NewChecksum()
	batch := make([][]any, 0, copyBatch)
	flush := func() error {
		err := to.Insert(tb, into, batch)
		batch = batch[:0]
		return err
	}
	err := from.Scan(tb, func(row []any) error {
		sum.Add(row)
		batch = append(batch, slices.Clone(row))
		if len(batch) < copyBatch {
			return nil
		}
		return flush()
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err == nil {
		err = to.SyncSequences(into)
	}
	return tableCopy{table: tb, fromRows: sum.Rows(), fromSum: sum.String()}, err
}

// verifyCopy counts and checksums every table of the committed target, read
// as the source was: same columns, same order.
func verifyCopy(ctx context.Context, dst *store.DB, results []tableCopy) error {
	return dst.ReadTables(ctx, func(to *store.TableTx) error {
		for i := range results {
			var err error
			results[i].toRows, results[i].toSum, err = to.Checksum(results[i].table)
			if err != nil {
				return fmt.Errorf("verifying the target: %w", err)
			}
		}
		return nil
	})
}

// reportCopy prints one line per table and fails if any table differs.
func reportCopy(w io.Writer, results []tableCopy) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS (FROM)\tROWS (TO)\tSHA-256 (FROM)\tSHA-256 (TO)\t")
	var rows int64
	var bad []string
	for _, c := range results {
		status := "ok"
		if !c.ok() {
			status = "MISMATCH"
			bad = append(bad, c.table.Name)
		}
		rows += c.fromRows
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.16s\t%.16s\t%s\n", c.table.Name, c.fromRows, c.toRows, c.fromSum, c.toSum, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("verification failed: %s differ between source and target", strings.Join(bad, ", "))
	}
	fmt.Fprintf(w, "copied %d rows in %d tables; row counts and checksums match\n", rows, len(results))
	return nil
}
