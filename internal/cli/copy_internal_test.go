package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/store"
)

// TestReportCopyMismatch: a table whose count or checksum differs fails
// the command and is named.
func TestReportCopyMismatch(t *testing.T) {
	results := []tableCopy{
		{table: store.Table{Name: "accounts"}, fromRows: 2, toRows: 2, fromSum: "aa", toSum: "aa"},
		{table: store.Table{Name: "readings"}, fromRows: 5, toRows: 5, fromSum: "bb", toSum: "cc"},
		{table: store.Table{Name: "sessions"}, fromRows: 3, toRows: 2, fromSum: "dd", toSum: "dd"},
	}
	var out bytes.Buffer
	err := reportCopy(&out, results)
	if err == nil || !strings.Contains(err.Error(), "readings, sessions") {
		t.Errorf("reportCopy = %v, want a failure naming readings and sessions", err)
	}
	if strings.Count(out.String(), "MISMATCH") != 2 || strings.Contains(out.String(), "match\n") {
		t.Errorf("report:\n%s", out.String())
	}
}
