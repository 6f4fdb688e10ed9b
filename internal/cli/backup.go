package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/glucoshare/glucoshare/internal/store"
)

const backupUsage = `Usage: glucoshare backup --db FILE --out BACKUP

Writes a consistent copy of a SQLite database to BACKUP, a new file, while the
server keeps running: the copy holds every transaction committed before the
backup began (VACUUM INTO). The copy is checked before it is kept.

PostgreSQL databases are backed up with pg_dump and restored with pg_restore;
see docs/operations.md.
`

const restoreUsage = `Usage: glucoshare restore --from BACKUP --db FILE [--force]

Checks a backup (integrity, foreign keys, a schema this glucoshare knows) and
installs it as the SQLite database FILE. Refuses an existing FILE unless --force;
stop the server before restoring over its database. The server upgrades an
older schema when it starts.
`

func runBackup(ctx context.Context, args []string, env Env) error {
	var d dbFlags
	var out string
	fs := flagSet("backup", backupUsage, env)
	d.register(fs)
	fs.StringVar(&out, "out", "", "the backup file to create (required; must not exist)")
	if err := parse(fs, args, env); err != nil {
		return err
	}
	if out == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: --out BACKUP is required, and nothing else", errUsage)
	}
	path, err := store.SQLitePath(d.dsn)
	if err != nil {
		return err
	}
	// Opening a missing file would create an empty database.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, out); err != nil {
		return err
	}
	current, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "backed up %s to %s (schema version %d)\n", path, out, current)
	return nil
}

func runRestore(ctx context.Context, args []string, env Env) error {
	var dsn, from string
	var force bool
	fs := flagSet("restore", restoreUsage, env)
	fs.StringVar(&dsn, "db", "glucoshare.db", "the SQLite database file to restore into")
	fs.StringVar(&from, "from", "", "the backup file (required)")
	fs.BoolVar(&force, "force", false, "replace an existing database")
	if err := parse(fs, args, env); err != nil {
		return err
	}
	if from == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: --from BACKUP is required, and nothing else", errUsage)
	}
	path, err := store.SQLitePath(dsn)
	if err != nil {
		return err
	}
	version, err := store.Restore(ctx, from, path, force)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored %s into %s (schema version %d, checked)\n", from, path, version)
	return nil
}
