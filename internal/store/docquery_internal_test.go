package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// TestQueryPlans: the translated queries of the busiest requests are
// served by the indexes, as SQLite plans them (PostgreSQL chooses by its
// statistics, which a test database lacks).
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "glucoshare.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	c := func(field string, op glucose.Op, v glucose.Value) glucose.Cond {
		return glucose.Cond{Field: field, Op: op, Values: []glucose.Value{v}}
	}
	for _, qc := range []struct {
		name, index string
		build       func(t *tx) (*sqlBuilder, error)
	}{
		{"entries by date", "PRIMARY KEY", func(t *tx) (*sqlBuilder, error) {
			b, _, err := t.findReadingsSQL("a", glucose.DocQuery{Limit: 10, Where: []glucose.Cond{
				c(glucose.FieldDate, glucose.OpGte, glucose.Num(1)), c("type", glucose.OpEq, glucose.Str("sgv"))}})
			return b, err
		}},
		{"the newest entries", "PRIMARY KEY", func(t *tx) (*sqlBuilder, error) {
			b, _, err := t.findReadingsSQL("a", glucose.DocQuery{Limit: 1})
			return b, err
		}},
		{"treatments by date", "ns_documents_date", func(t *tx) (*sqlBuilder, error) {
			return t.findDocumentsSQL("a", glucose.CollectionTreatments, glucose.DocQuery{Limit: 100, Where: []glucose.Cond{
				c(glucose.FieldDate, glucose.OpGte, glucose.Num(1))}})
		}},
		{"treatments by type", "ns_documents_type", func(t *tx) (*sqlBuilder, error) {
			return t.findDocumentsSQL("a", glucose.CollectionTreatments, glucose.DocQuery{Limit: 1, Where: []glucose.Cond{
				c("eventType", glucose.OpEq, glucose.Str("Site Change")), c(glucose.FieldDate, glucose.OpGte, glucose.Num(1))}})
		}},
		{"by identifier", "ns_documents_identifier", func(t *tx) (*sqlBuilder, error) {
			return t.findDocumentsSQL("a", glucose.CollectionTreatments, glucose.DocQuery{Limit: 1, IncludeDeleted: true, Where: []glucose.Cond{
				c(glucose.FieldIdentifier, glucose.OpEq, glucose.Str("x"))}})
		}},
		// A live upload's reading is found by its time, a late one by
		// readings_late (schema version 17): both halves use an index.
		{"entries history, on-time half", "PRIMARY KEY (account_id=? AND st>?)", readingsHistorySQL},
		{"entries history, late half", "INDEX readings_late (account_id=? AND received_at>?)", readingsHistorySQL},
		{"history by srvModified", "ns_documents_modified", func(t *tx) (*sqlBuilder, error) {
			return t.findDocumentsSQL("a", glucose.CollectionTreatments, glucose.DocQuery{Limit: 100, IncludeDeleted: true,
				Sort: []glucose.SortKey{{Field: glucose.FieldSrvModified}}, Where: []glucose.Cond{c(glucose.FieldSrvModified, glucose.OpGt, glucose.Num(1))}})
		}},
	} {
		err := db.View(ctx, func(gtx glucose.Tx) error {
			b, err := qc.build(gtx.(*tx))
			if err != nil {
				return err
			}
			rows, err := gtx.(*tx).query("EXPLAIN QUERY PLAN "+b.b.String(), b.args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					return err
				}
				plan = append(plan, detail)
			}
			joined := strings.Join(plan, "; ")
			if !strings.Contains(joined, qc.index) {
				t.Errorf("%s: plan %q, want it to use %s", qc.name, joined, qc.index)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatalf("%s: %v", qc.name, err)
		}
	}
}

// readingsHistorySQL is API v3's history query of entries.
func readingsHistorySQL(t *tx) (*sqlBuilder, error) {
	b, _, err := t.findReadingsSQL("a", glucose.DocQuery{Limit: 1000, Sort: []glucose.SortKey{{Field: glucose.FieldSrvModified}},
		Where: []glucose.Cond{{Field: glucose.FieldSrvModified, Op: glucose.OpGt, Values: []glucose.Value{glucose.Num(1)}}}})
	return b, err
}
