package web

import (
	"bytes"
	"cmp"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"regexp"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Charts are drawn with gonum.org/v1/plot onto its SVG or raster canvas.
// Canvas units are points; the raster canvas runs at 72 dpi, so one point
// is one pixel and an SVG's viewBox is the picture's size in pixels.

// Target range and axis limits, mg/dL.
const (
	targetLow  = 70
	targetHigh = 180
	axisMin    = 35
	axisMaxMin = 250 // the y axis reaches at least this high
	axisMaxMax = 410
	staleAfter = 15 * time.Minute // a reading older than this is stale (docs/protocol.md, "Alarm conditions" uses the same bound)
)

// theme is a picture's palette.
type theme struct {
	name                 string
	bg, fg, band, limit  color.Color
	inRange, low, high   color.Color
	stale                color.Color
	carbs, insulin       color.Color // treatment marks
	grayPNG              bool        // encode PNGs as 8-bit grayscale (e-ink)
	dashedLimits, strong bool
}

// themeNamed returns the palette of a theme name; "" is light.
func themeNamed(name string) (theme, bool) {
	gray := func(y uint8) color.Color { return color.Gray{Y: y} }
	switch name {
	case "", "light":
		return theme{name: "light", bg: color.White, fg: gray(0x33), band: color.RGBA{0xe3, 0xf4, 0xe6, 0xff},
			limit: gray(0x99), inRange: color.RGBA{0x1b, 0x7f, 0x3b, 0xff}, low: color.RGBA{0xc6, 0x28, 0x28, 0xff},
			high: color.RGBA{0xd9, 0x77, 0x06, 0xff}, stale: gray(0x99), dashedLimits: true,
			carbs: color.RGBA{0x8a, 0x5a, 0x00, 0xff}, insulin: color.RGBA{0x1f, 0x5f, 0xbf, 0xff}}, true
	case "dark":
		return theme{name: "dark", bg: color.Black, fg: gray(0xdd), band: color.RGBA{0x12, 0x3a, 0x20, 0xff},
			limit: gray(0x77), inRange: color.RGBA{0x5f, 0xd0, 0x7f, 0xff}, low: color.RGBA{0xff, 0x6b, 0x6b, 0xff},
			high: color.RGBA{0xff, 0xc1, 0x4d, 0xff}, stale: gray(0x88), dashedLimits: true,
			carbs: color.RGBA{0xe0, 0xb0, 0x60, 0xff}, insulin: color.RGBA{0x7f, 0xb2, 0xff, 0xff}}, true
	case "eink":
		// Two inks and one light gray: e-ink panels show few levels, and
		// thin anti-aliased colour turns to mush on them.
		return theme{name: "eink", bg: color.White, fg: color.Black, band: gray(0xdd), limit: color.Black,
			inRange: color.Black, low: color.Black, high: color.Black, stale: gray(0x80), grayPNG: true,
			dashedLimits: true, strong: true, carbs: color.Black, insulin: color.Black}, true
	}
	return theme{}, false
}

// chartSpec describes one picture.
type chartSpec struct {
	W, H     int
	From, To time.Time
	// Readings newest first, as the store returns them.
	Readings []glucose.Reading
	// History false draws only the newest value (permissions 0).
	History bool
	Theme   theme
	Zone    *time.Location
	Now     time.Time
	// Overlay draws the newest value and its arrow on the picture (the
	// images for watch faces); the pages show them as text instead.
	Overlay bool
	// FontSize of the axis labels; 0 derives it from the size. Pages set
	// it, because CSS scales their charts to the screen.
	FontSize vg.Length
	// Units the values, the value axis and the target range are labelled
	// in. The picture itself is laid out in mg/dL, so it looks the same in
	// both units.
	Units glucose.Units
	// Marks are treatments (carbohydrates, insulin) shown at the foot of
	// the chart, from the Nightscout API's treatments.
	Marks []treatmentMark
}

// treatmentMark is a treatment at a time: carbohydrates (an upward
// triangle) and insulin (a downward one).
type treatmentMark struct {
	At             int64 // Unix milliseconds
	Carbs, Insulin float64
}

// geometry is where the data area of a drawn chart lies, in SVG
// coordinates (y grows downwards), for the page's hover script.
type geometry struct {
	X0, X1, Y0, Y1 float64 // left, right, top, bottom
	VMin, VMax     float64 // values at the bottom and the top
}

// compact reports whether the picture is too small for axes.
func (sp chartSpec) compact() bool { return sp.W < 200 || sp.H < 120 }

func (sp chartSpec) fontSize() vg.Length {
	if sp.FontSize > 0 {
		return sp.FontSize
	}
	return vg.Length(math.Max(8, math.Min(16, float64(min(sp.W, sp.H))/16)))
}

func sansFont(size vg.Length) font.Font {
	return font.From(font.Font{Typeface: "Liberation", Variant: "Sans"}, size)
}

// window returns the readings inside [From, To], newest first.
func (sp chartSpec) window() []glucose.Reading {
	from, to := sp.From.UnixMilli(), sp.To.UnixMilli()
	var out []glucose.Reading
	for _, r := range sp.Readings {
		if r.ST >= from && r.ST <= to {
			out = append(out, r)
		}
	}
	return out
}

// build assembles the plot: shaded target range, dashed low and high
// lines, and one dot per reading coloured by range.
func (sp chartSpec) build() (*plot.Plot, error) {
	th := sp.Theme
	p := plot.New()
	p.BackgroundColor = th.bg
	rs := sp.window()
	from, to := float64(sp.From.Unix()), float64(sp.To.Unix())

	band, err := plotter.NewPolygon(plotter.XYs{{X: from, Y: targetLow}, {X: to, Y: targetLow}, {X: to, Y: targetHigh}, {X: from, Y: targetHigh}})
	if err != nil {
		return nil, err
	}
	band.Color = th.band
	band.LineStyle.Width = 0
	p.Add(band)
	for _, v := range []float64{targetLow, targetHigh} {
		l, err := plotter.NewLine(plotter.XYs{{X: from, Y: v}, {X: to, Y: v}})
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: th.limit, Width: vg.Length(math.Max(0.75, float64(sp.H)/300))}
		if th.dashedLimits {
			l.LineStyle.Dashes = []vg.Length{4, 3}
		}
		p.Add(l)
	}
	ymax := float64(axisMaxMin)
	if len(rs) > 0 {
		xys := make(plotter.XYs, len(rs))
		for i, r := range rs {
			xys[i] = plotter.XY{X: float64(r.ST) / 1000, Y: float64(r.Value)}
			ymax = math.Max(ymax, float64(r.Value)+15)
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		radius := vg.Length(math.Max(1.2, math.Min(4, float64(sp.W)/float64(max(60, len(rs)))*0.45)))
		sc.GlyphStyleFunc = func(i int) draw.GlyphStyle {
			return draw.GlyphStyle{Color: th.valueColor(rs[i].Value), Radius: radius, Shape: draw.CircleGlyph{}}
		}
		p.Add(sc)
	}
	if err := sp.addMarks(p); err != nil {
		return nil, err
	}
	p.X.Min, p.X.Max = from, to
	p.Y.Min, p.Y.Max = axisMin, math.Min(ymax, axisMaxMax)
	sp.styleAxes(p)
	return p, nil
}

// markRow is the value at which treatment marks stand: the chart's foot,
// below every reading (values start at 39).
const markRow = axisMin + 1

// addMarks draws carbohydrates as upward and insulin as downward
// triangles at the foot of the chart, within its time span.
func (sp chartSpec) addMarks(p *plot.Plot) error {
	from, to := sp.From.UnixMilli(), sp.To.UnixMilli()
	for _, kind := range []struct {
		amount func(treatmentMark) float64
		shape  draw.GlyphDrawer
		color  color.Color
	}{
		{func(m treatmentMark) float64 { return m.Carbs }, draw.TriangleGlyph{}, sp.Theme.carbs},
		{func(m treatmentMark) float64 { return m.Insulin }, downTriangle{}, sp.Theme.insulin},
	} {
		var xys plotter.XYs
		for _, m := range sp.Marks {
			if kind.amount(m) > 0 && m.At >= from && m.At <= to {
				xys = append(xys, plotter.XY{X: float64(m.At) / 1000, Y: markRow})
			}
		}
		if len(xys) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: kind.color, Radius: vg.Length(math.Max(3, float64(sp.H)/60)), Shape: kind.shape}
		p.Add(sc)
	}
	return nil
}

// downTriangle is a filled triangle pointing down.
type downTriangle struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (downTriangle) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetColor(sty.Color)
	r := sty.Radius
	var p vg.Path
	p.Move(vg.Point{X: pt.X - r, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Close()
	c.Fill(p)
}

func (th theme) valueColor(v int) color.Color {
	switch {
	case v < targetLow:
		return th.low
	case v > targetHigh:
		return th.high
	}
	return th.inRange
}

// styleAxes sets fonts, colours and ticks, or hides the axes on small
// pictures.
func (sp chartSpec) styleAxes(p *plot.Plot) {
	if sp.compact() {
		p.HideAxes()
		p.X.Padding, p.Y.Padding = 0, 0
		return
	}
	fs := sp.fontSize()
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Tick.Label.Font = sansFont(fs)
		ax.Tick.Label.Color = sp.Theme.fg
		ax.Tick.LineStyle.Color = sp.Theme.fg
		ax.LineStyle.Color = sp.Theme.fg
		ax.Padding = 0
	}
	p.X.Tick.Marker = hourTicks{zone: sp.zone(), width: sp.W}
	p.Y.Tick.Marker = valueTicks{units: sp.Units}
}

func (sp chartSpec) zone() *time.Location {
	if sp.Zone == nil {
		return time.UTC
	}
	return sp.Zone
}

// hourTicks labels whole hours of the sharer's local time, fewer on narrow
// pictures.
type hourTicks struct {
	zone  *time.Location
	width int
}

// Ticks implements plot.Ticker.
func (t hourTicks) Ticks(lo, hi float64) []plot.Tick {
	span := (hi - lo) / 3600
	maxLabels := max(2, t.width/70)
	step := 1
	for _, s := range []int{1, 2, 3, 4, 6, 12} {
		step = s
		if span/float64(s) <= float64(maxLabels) {
			break
		}
	}
	start := time.Unix(int64(lo), 0).In(t.zone).Truncate(time.Hour)
	var ticks []plot.Tick
	for tm := start; float64(tm.Unix()) <= hi; tm = tm.Add(time.Hour) {
		x := float64(tm.Unix())
		if x < lo {
			continue
		}
		label := ""
		if tm.Hour()%step == 0 {
			label = tm.Format("15:04")
		}
		ticks = append(ticks, plot.Tick{Value: x, Label: label})
	}
	return ticks
}

// valueTicks marks the target range where the band is (70 and 180 mg/dL,
// 3.9 and 10.0 mmol/L), 250 mg/dL (13.9 mmol/L, where "very high"
// begins), and round values of the units: 40, 300, 400 mg/dL or 2 and
// 20 mmol/L.
type valueTicks struct{ units glucose.Units }

// Ticks implements plot.Ticker; values are mg/dL.
func (t valueTicks) Ticks(lo, hi float64) []plot.Tick {
	round := []float64{40, 300, 400}
	if t.units.Mmol() {
		round = []float64{2 * glucose.MgdlPerMmol, 20 * glucose.MgdlPerMmol}
	}
	var ticks []plot.Tick
	for _, v := range append([]float64{targetLow, targetHigh, 250}, round...) {
		if v >= lo && v <= hi {
			ticks = append(ticks, plot.Tick{Value: v, Label: t.units.Format(v)})
		}
	}
	slices.SortFunc(ticks, func(a, b plot.Tick) int { return cmp.Compare(a.Value, b.Value) })
	return ticks
}

// draw draws the picture on c and returns where its data area lies.
func (sp chartSpec) draw(c vg.CanvasSizer) (geometry, error) {
	dc := draw.New(c)
	if !sp.History {
		dc.SetColor(sp.Theme.bg)
		dc.Fill(dc.Rectangle.Path())
		sp.drawValue(dc, true)
		return geometry{}, nil
	}
	p, err := sp.build()
	if err != nil {
		return geometry{}, err
	}
	p.Draw(dc)
	area := p.DataCanvas(dc)
	if sp.Overlay {
		sp.drawValue(area, false)
	}
	return geometry{
		X0: float64(area.Min.X), X1: float64(area.Max.X),
		Y0: float64(sp.H) - float64(area.Max.Y), Y1: float64(sp.H) - float64(area.Min.Y),
		VMin: p.Y.Min, VMax: p.Y.Max,
	}, nil
}

// drawValue writes the newest value, its trend arrow and its time into c:
// large and centred when alone, in the top-left corner over a chart.
func (sp chartSpec) drawValue(c draw.Canvas, alone bool) {
	th := sp.Theme
	w, h := c.Max.X-c.Min.X, c.Max.Y-c.Min.Y
	size := vg.Length(math.Min(float64(h)*0.22, float64(w)*0.16))
	if alone {
		size = vg.Length(math.Min(float64(h)*0.45, float64(w)*0.28))
	}
	size = max(size, 7)
	big := text.Style{Color: th.fg, Font: sansFont(size), Handler: plot.DefaultTextHandler,
		XAlign: draw.XLeft, YAlign: draw.YTop}
	small := big
	small.Font = sansFont(max(6, size*0.38))
	if len(sp.Readings) == 0 {
		big.XAlign, big.YAlign = draw.XCenter, draw.YCenter
		c.FillText(big, vg.Point{X: c.Min.X + w/2, Y: c.Min.Y + h/2}, "no data")
		return
	}
	r := sp.Readings[0]
	stale := sp.Now.Sub(glucose.FromMS(r.ST)) > staleAfter
	if stale {
		big.Color = th.stale
	} else if !th.strong {
		big.Color = th.valueColor(r.Value)
	}
	label := sp.Units.FormatReading(r.Value)
	tw := big.Width(label)
	arrow := size * 0.8
	pad := size * 0.25
	var at vg.Point
	if alone {
		at = vg.Point{X: c.Min.X + (w-tw-arrow-pad)/2, Y: c.Min.Y + h/2 + size*0.6}
	} else {
		at = vg.Point{X: c.Min.X + pad, Y: c.Max.Y - pad*0.5}
		// A veil keeps the value readable over the dots beneath it.
		r, g, b, _ := th.bg.RGBA()
		veil := color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xd0}
		right, bottom := at.X+tw+pad*2+arrow, at.Y-size*1.5
		c.FillPolygon(veil, []vg.Point{{X: c.Min.X, Y: c.Max.Y}, {X: right, Y: c.Max.Y}, {X: right, Y: bottom}, {X: c.Min.X, Y: bottom}})
	}
	c.FillText(big, at, label)
	drawTrend(c, r.Trend, vg.Point{X: at.X + tw + pad + arrow/2, Y: at.Y - size*0.5}, arrow, big.Color)
	when := glucose.FromMS(r.ST).In(sp.zone()).Format("15:04")
	if stale {
		when += fmt.Sprintf(" · %s ago", ago(sp.Now.Sub(glucose.FromMS(r.ST))))
	}
	small.Color = th.fg
	if alone {
		small.XAlign = draw.XCenter
		c.FillText(small, vg.Point{X: c.Min.X + w/2, Y: at.Y - size*1.05}, when)
	} else {
		c.FillText(small, vg.Point{X: at.X, Y: at.Y - size*1.02}, when)
	}
}

// drawTrend draws a trend as one or two arrows centred on at, or a mark
// for the trends that have no direction.
func drawTrend(c draw.Canvas, t share.Trend, at vg.Point, size vg.Length, clr color.Color) {
	angle, n := 0.0, 1
	switch t {
	case share.TrendDoubleUp:
		angle, n = 90, 2
	case share.TrendSingleUp:
		angle = 90
	case share.TrendFortyFiveUp:
		angle = 45
	case share.TrendFlat:
	case share.TrendFortyFiveDown:
		angle = -45
	case share.TrendSingleDown:
		angle = -90
	case share.TrendDoubleDown:
		angle, n = -90, 2
	default:
		return // None, NotComputable, RateOutOfRange: no direction to show
	}
	for i := range n {
		off := vg.Length(0)
		if n == 2 {
			off = size * (vg.Length(i) - 0.5) * 0.55
		}
		drawArrow(c, vg.Point{X: at.X + off, Y: at.Y}, size, angle, clr)
	}
}

// drawArrow draws an arrow of length size through at, pointing at angle
// degrees (0 = right, 90 = up).
func drawArrow(c draw.Canvas, at vg.Point, size vg.Length, angle float64, clr color.Color) {
	rad := angle * math.Pi / 180
	dir := vg.Point{X: vg.Length(math.Cos(rad)), Y: vg.Length(math.Sin(rad))}
	norm := vg.Point{X: -dir.Y, Y: dir.X}
	half := size / 2
	tip := at.Add(dir.Scale(half))
	tail := at.Sub(dir.Scale(half))
	head := size * 0.42
	base := tip.Sub(dir.Scale(head))
	c.StrokeLine2(draw.LineStyle{Color: clr, Width: max(1, size*0.13)}, tail.X, tail.Y, base.X, base.Y)
	c.FillPolygon(clr, []vg.Point{tip, base.Add(norm.Scale(head * 0.6)), base.Sub(norm.Scale(head * 0.6))})
}

// ago writes a duration the way the pages do: "4 min", "2 h 5 min".
func ago(d time.Duration) string {
	m := int(d / time.Minute)
	switch {
	case m < 60:
		return fmt.Sprintf("%d min", max(0, m))
	case m < 48*60:
		if m%60 == 0 {
			return fmt.Sprintf("%d h", m/60)
		}
		return fmt.Sprintf("%d h %d min", m/60, m%60)
	}
	return fmt.Sprintf("%d days", m/(24*60))
}

// renderPNG draws the picture as a PNG, in 8-bit gray for e-ink.
func renderPNG(sp chartSpec) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(sp.W), vg.Length(sp.H)), vgimg.UseDPI(72), vgimg.UseBackgroundColor(sp.Theme.bg))
	if _, err := sp.draw(c); err != nil {
		return nil, err
	}
	var img image.Image = c.Image()
	if sp.Theme.grayPNG {
		gray := image.NewGray(img.Bounds())
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
			for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
				gray.Set(x, y, img.At(x, y))
			}
		}
		img = gray
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// svgHeader matches the opening of vgsvg's output up to the end of the
// <svg> start tag.
var svgHeader = regexp.MustCompile(`(?s)^.*?<svg [^>]*>`)

// renderSVG draws the picture as an SVG document whose <svg> element
// carries the given extra attributes (class, role…). The size is in
// pixels: width and height attributes for a standalone image, none when
// the page sizes it with CSS (inline).
func renderSVG(sp chartSpec, inline bool, attrs string) ([]byte, geometry, error) {
	c := vgsvg.New(vg.Length(sp.W), vg.Length(sp.H))
	geo, err := sp.draw(c)
	if err != nil {
		return nil, geo, err
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, geo, err
	}
	size := fmt.Sprintf(` width="%d" height="%d"`, sp.W, sp.H)
	if inline {
		size = ""
	}
	head := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg"%s viewBox="0 0 %d %d"%s>`, size, sp.W, sp.H, attrs)
	if !inline {
		head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + head
	}
	out := svgHeader.ReplaceAllLiteral(b.Bytes(), []byte(head))
	return out, geo, nil
}
