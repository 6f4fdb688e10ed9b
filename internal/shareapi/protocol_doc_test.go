package shareapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/share"
)

// The tests in this file keep docs/protocol.md true to the code: the route
// table, the error codes and the citations of its headings. They read the
// route table and the share package's Code constants themselves, so a new
// route or code without documentation fails here.

const (
	protocolDoc = "../../docs/protocol.md"
	moduleRoot  = "../.."
)

// protocolDocument is docs/protocol.md cut into its sections.
type protocolDocument struct {
	text     string
	sections []docSection
}

// docSection is a heading and the text up to the next heading of any level.
type docSection struct {
	level int
	title string
	body  string
}

var headingLine = regexp.MustCompile(`^(#{1,6}) (.+)$`)

func readProtocolDoc(t *testing.T) *protocolDocument {
	t.Helper()
	raw, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	d := &protocolDocument{text: string(raw)}
	inCode := false
	var cur *docSection
	for _, line := range strings.Split(d.text, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if m := headingLine.FindStringSubmatch(line); m != nil && !inCode {
			d.sections = append(d.sections, docSection{level: len(m[1]), title: strings.TrimSpace(m[2])})
			cur = &d.sections[len(d.sections)-1]
			continue
		}
		if cur != nil {
			cur.body += line + "\n"
		}
	}
	return d
}

// section returns the text of the section with this title, its
// subsections included.
func (d *protocolDocument) section(t *testing.T, title string) string {
	t.Helper()
	for i, s := range d.sections {
		if s.title != title {
			continue
		}
		var b strings.Builder
		b.WriteString(s.body)
		for _, sub := range d.sections[i+1:] {
			if sub.level <= s.level {
				break
			}
			b.WriteString(sub.body)
		}
		return b.String()
	}
	t.Fatalf("docs/protocol.md has no heading %q", title)
	return ""
}

// anchor returns the link anchor a code host derives from a heading:
// lower case, punctuation other than hyphens and underscores dropped,
// spaces as hyphens.
func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// route is one row of the route table as the doc must show it.
type route struct{ method, path string }

func routeTable() map[string]route {
	routes := map[string]route{}
	for _, ep := range (&API{}).endpoints() {
		method := "POST"
		if ep.get {
			method = "GET"
		}
		routes[ep.area+"/"+ep.name] = route{method, ep.area + "/" + ep.name}
	}
	return routes
}

var (
	endpointHeading = regexp.MustCompile(`^(GET|POST) ((?:General|Publisher|Subscriber)/[A-Za-z0-9]+)$`)
	overviewRow     = regexp.MustCompile("(?m)^\\| `((?:General|Publisher|Subscriber)/[A-Za-z0-9]+)` \\| ([A-Z]+) \\| ([a-z ]+) \\|")
	endpointName    = regexp.MustCompile(`\b(?:General|Publisher|Subscriber)/[A-Za-z0-9]+`)
)

// TestProtocolDocRoutes: every route of the route table has its heading
// ("#### POST Publisher/ReadContact") and its overview row with the right
// method and an origin tag; every endpoint the doc names is routed, unless
// the doc lists it under "Endpoints not served".
func TestProtocolDocRoutes(t *testing.T) {
	doc := readProtocolDoc(t)
	routes := routeTable()
	headed := map[string]string{}
	for _, s := range doc.sections {
		m := endpointHeading.FindStringSubmatch(s.title)
		if m == nil {
			continue
		}
		headed[m[2]] = m[1]
		if r, ok := routes[m[2]]; !ok {
			t.Errorf("docs/protocol.md has a heading for %s %s, which the route table does not serve", m[1], m[2])
		} else if r.method != m[1] {
			t.Errorf("docs/protocol.md heads %s with %s; the route table serves it with %s", m[2], m[1], r.method)
		}
	}
	rows := map[string]string{}
	for _, m := range overviewRow.FindAllStringSubmatch(doc.section(t, "Endpoint overview"), -1) {
		rows[m[1]] = m[2]
		if r, ok := routes[m[1]]; !ok {
			t.Errorf("the endpoint overview lists %s, which the route table does not serve", m[1])
		} else if r.method != m[2] {
			t.Errorf("the endpoint overview gives %s the method %s; the route table serves it with %s", m[1], m[2], r.method)
		}
		if !slices.Contains([]string{"observed", "official app", "glucoshare"}, m[3]) {
			t.Errorf("the endpoint overview gives %s the origin %q; want observed, official app or glucoshare", m[1], m[3])
		}
	}
	for path, r := range routes {
		if headed[path] == "" {
			t.Errorf("route %s %s has no heading %q in docs/protocol.md", r.method, path, "#### "+r.method+" "+path)
		}
		if rows[path] == "" {
			t.Errorf("route %s %s has no row in the endpoint overview of docs/protocol.md", r.method, path)
		}
	}

	notServed := doc.section(t, "Endpoints not served")
	for _, name := range endpointName.FindAllString(notServed, -1) {
		if _, ok := routes[name]; ok {
			t.Errorf("docs/protocol.md lists %s as not served, but the route table serves it", name)
		}
	}
	rest := strings.Replace(doc.text, notServed, "", 1)
	for _, name := range endpointName.FindAllString(rest, -1) {
		if _, ok := routes[name]; !ok {
			t.Errorf("docs/protocol.md names the endpoint %s, which is neither routed nor listed under \"Endpoints not served\"", name)
		}
	}
}

// codeConst is a Code constant of package share.
type codeConst struct{ name, value string }

// shareCodes reads the Code constants of package share from its source.
func shareCodes(t *testing.T) []codeConst {
	t.Helper()
	var codes []codeConst
	for _, f := range parseGoFiles(t, filepath.Join(moduleRoot, "share")) {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("share.%s is not a string literal", name.Name)
					}
					v, _ := strconv.Unquote(lit.Value)
					codes = append(codes, codeConst{name.Name, v})
				}
			}
		}
	}
	if len(codes) < 30 {
		t.Fatalf("found only %d Code constants in package share", len(codes))
	}
	return codes
}

// parseGoFiles parses the non-test Go files of one directory.
func parseGoFiles(t *testing.T, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// serverCodes returns the names of the share.Code constants that the
// server's packages use: every non-test package under internal/ except the
// command-line client (internal/cli), which only reads codes.
func serverCodes(t *testing.T) map[string]bool {
	t.Helper()
	used := map[string]bool{}
	root := filepath.Join(moduleRoot, "internal")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if path == filepath.Join(root, "cli") || d.Name() == "testdata" {
			return filepath.SkipDir
		}
		for _, f := range parseGoFiles(t, path) {
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "share" && strings.HasPrefix(sel.Sel.Name, "Code") {
						used[sel.Sel.Name] = true
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return used
}

var codeRow = regexp.MustCompile("(?m)^\\| `([A-Za-z_]+)` \\|(?: ([0-9]{3}) \\|)?")

// TestProtocolDocErrorCodes: every Code constant of package share is
// documented — in the table of codes the server sends, with its HTTP
// status, when a server package uses it; under "Codes glucoshare never
// sends" otherwise — and the two tables name no other code.
func TestProtocolDocErrorCodes(t *testing.T) {
	doc := readProtocolDoc(t)
	codes := shareCodes(t)
	used := serverCodes(t)
	sent := map[string]string{}
	for _, m := range codeRow.FindAllStringSubmatch(doc.section(t, "Error codes"), -1) {
		sent[m[1]] = m[2]
	}
	never := map[string]bool{}
	for _, m := range codeRow.FindAllStringSubmatch(doc.section(t, "Codes glucoshare never sends"), -1) {
		never[m[1]] = true
	}
	known := map[string]bool{}
	for _, c := range codes {
		known[c.value] = true
		status, documented := sent[c.value]
		switch {
		case used[c.name] && !documented:
			t.Errorf("the server sends share.%s (%q), but the table under \"Error codes\" does not list it", c.name, c.value)
		case used[c.name] && status != strconv.Itoa(share.Code(c.value).HTTPStatus()):
			t.Errorf("\"Error codes\" gives %s the status %s; the server sends it with %d", c.value, status, share.Code(c.value).HTTPStatus())
		case !used[c.name] && documented:
			t.Errorf("\"Error codes\" lists %s, but no server package uses share.%s: move it to \"Codes glucoshare never sends\"", c.value, c.name)
		case !used[c.name] && !never[c.value]:
			t.Errorf("share.%s (%q) is not documented under \"Codes glucoshare never sends\"", c.name, c.value)
		}
	}
	for code := range sent {
		if !known[code] {
			t.Errorf("\"Error codes\" lists %s, which is no Code constant of package share", code)
		}
	}
	for code := range never {
		if !known[code] {
			t.Errorf("\"Codes glucoshare never sends\" lists %s, which is no Code constant of package share", code)
		}
	}
}

var (
	// A citation in a comment, string or document: docs/protocol.md, then
	// one or more quoted headings, which may continue on the next comment
	// line and may be escaped inside a Go string.
	citation   = regexp.MustCompile(`docs/protocol\.md,((?:[\s/#-]*\\?"[^"\n\\]+\\?",?)+)`)
	citedTitle = regexp.MustCompile(`\\?"([^"\n\\]+)\\?"`)
	// A link to a heading of docs/protocol.md from Markdown.
	docLink = regexp.MustCompile(`\]\((?:[./]*docs/|\.?/?)?protocol\.md#([^)\s]+)\)`)
	// A link from docs/protocol.md to one of its own headings.
	localLink = regexp.MustCompile(`\]\(#([^)\s]+)\)`)
)

// TestProtocolDocCitations: headings are unique, and every citation of a
// heading in the repository's code and documents names a heading that
// exists, so a renamed heading cannot leave comments pointing nowhere.
func TestProtocolDocCitations(t *testing.T) {
	doc := readProtocolDoc(t)
	titles, anchors := map[string]bool{}, map[string]bool{}
	for _, s := range doc.sections {
		if titles[s.title] {
			t.Errorf("docs/protocol.md has the heading %q twice; citations would be ambiguous", s.title)
		}
		titles[s.title], anchors[anchor(s.title)] = true, true
	}
	cited := 0
	err := filepath.WalkDir(moduleRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "testdata" || name == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".sql", ".conf", "":
		default:
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(raw)
		for _, m := range citation.FindAllStringSubmatch(text, -1) {
			for _, title := range citedTitle.FindAllStringSubmatch(m[1], -1) {
				cited++
				if !titles[title[1]] {
					t.Errorf("%s cites docs/protocol.md, %q, which is no heading there", path, title[1])
				}
			}
		}
		if filepath.Ext(path) == ".md" {
			for _, m := range docLink.FindAllStringSubmatch(text, -1) {
				cited++
				if !anchors[m[1]] {
					t.Errorf("%s links to protocol.md#%s, which is no heading there", path, m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range localLink.FindAllStringSubmatch(doc.text, -1) {
		if !anchors[m[1]] {
			t.Errorf("docs/protocol.md links to #%s, which is no heading there", m[1])
		}
	}
	if cited == 0 {
		t.Fatal("found no citation of docs/protocol.md at all; the pattern no longer matches")
	}
}
