package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserDashboardMmol: in headless Chromium, the sharer chooses
// mmol/L on the profile page; the dashboard then shows the value, the time
// in range, the chart's axis and read-out in mmol/L, and a reading that
// arrives live reads the same as the page the server renders afterwards.
// The dashboard's screenshot is the one in docs/images/dashboard-mmol.png
// (run with GLUCOSHARE_ARTIFACTS=DIR to keep it).
func TestBrowserDashboardMmol(t *testing.T) {
	needChromium(t)
	base, samID := startServe(t)
	sam := uploader(t, base)
	deadline := startBrowser(t, 640, 720, 60*time.Second)
	tb := newTab(t, deadline, "sharer", 640, 720)
	shots := artifactDir(t)

	// The profile's choice, as a person makes it.
	tb.do(t, chromedp.Navigate(base+"/profile"))
	tb.signIn(t, "sam")
	tb.do(t, chromedp.Click(chromedp.CSS(`#units input[value="mmol/L"]`)),
		chromedp.Submit(chromedp.CSS(`#units form`)))
	tb.waitFor(t, `location.search === '?ok=saved' && document.readyState === 'complete'`)
	tb.do(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#card-me .chart svg`)))

	// 118 mg/dL is 6.6 mmol/L.
	card := `[data-publisher="` + samID + `"]`
	if v, u := tb.text(t, card+` .now .value`), tb.text(t, card+` .now .unit`); v != "6.6" || u != "mmol/L" {
		t.Errorf("current value %q %q, want 6.6 mmol/L", v, u)
	}
	if tir := tb.text(t, `#card-me .tir small`); !strings.Contains(tir, "range 3.9–10.0 mmol/L") {
		t.Errorf("time in range %q", tir)
	}
	labels, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.querySelector('#card-me .chart svg').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3.9", "10.0", "13.9"} {
		if !strings.Contains(labels, want) {
			t.Errorf("chart labels %q lack %s", labels, want)
		}
	}
	tb.screenshot(t, shots, "dashboard-mmol")
	if tip := tb.readOut(t, `#card-me .chart`); !strings.HasPrefix(tip, "6.6 mmol/L · ") {
		t.Errorf("chart read-out %q", tip)
	}
	if page := tb.text(t, `main`); strings.Contains(page, "mg/dL") {
		t.Errorf("the page still shows mg/dL:\n%s", page)
	}

	// A reading arrives live; the live panel reads as the server renders
	// the page.
	tb.do(t, chromedp.Poll[chromedp.Void](`document.body.dataset.stream === 'open'`, chromedp.WithPollingTimeout(10*time.Second)))
	tb.eval(t, `window.noReload = true`)
	upload(t, sam, 142)
	tb.waitFor(t, `document.querySelector('`+card+` .now .value').textContent === '7.9' && window.noReload === true`)
	live := tb.text(t, card+` .now`) + " | " + tb.text(t, card+` .tir`)
	tb.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#card-me .chart svg`)))
	if served := tb.text(t, card+` .now`) + " | " + tb.text(t, card+` .tir`); served != live {
		t.Errorf("live %q, server-rendered %q", live, served)
	}
	if !strings.Contains(live, "7.9") || !strings.Contains(live, "mmol/L") || !strings.Contains(live, "+") {
		t.Errorf("live panel %q: want 7.9 mmol/L with a rise", live)
	}
}
