package demo

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
	"path/filepath"

	"adnet/models"
)

// Tag returns the one-line tag a publisher pastes for zone z: an async script that renders
// where it sits, or an iframe of the zone's size.
func Tag(baseURL string, z models.Zone, iframe bool) template.HTML {
	src := fmt.Sprintf("%s/serve/js?zone=%d", baseURL, z.ID)
	if iframe {
		src = fmt.Sprintf("%s/serve/frame?zone=%d", baseURL, z.ID)
		return template.HTML(fmt.Sprintf(`<iframe src="%s" width="%d" height="%d" frameborder="0" scrolling="no" style="border:0" title="advertisement"></iframe>`,
			template.HTMLEscapeString(src), z.Width, z.Height))
	}
	return template.HTML(fmt.Sprintf(`<script async src="%s"></script>`, template.HTMLEscapeString(src)))
}

var pageTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>adnet publisher demo</title>
<style>
 body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f3f4f6; color: #111827; }
 header { background: #111827; color: #f9fafb; padding: 12px 24px; }
 main { display: grid; grid-template-columns: 1fr 200px; gap: 24px; max-width: 1100px; margin: 24px auto; padding: 0 24px; }
 .slot { margin: 16px 0; }
 .slot h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: #6b7280; margin: 0 0 4px; }
 article, aside { min-width: 0; }
 pre { background: #fff; border: 1px solid #e5e7eb; padding: 8px; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
</style>
</head>
<body>
<header><strong>Daily Planet</strong> — a publisher page carrying adnet zone tags, pasted exactly as the tag generator gives them.</header>
<main>
<article>
{{range .Slots}}<section class="slot" id="zone-{{.Zone.ID}}">
<h3>zone {{.Zone.ID}} · {{.Zone.Name}} · {{.Zone.Width}}×{{.Zone.Height}} · {{if .IFrame}}iframe tag{{else}}script tag{{end}}</h3>
{{.Tag}}
<pre>{{printf "%s" .Tag}}</pre>
</section>
<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit. The ad above was chosen by adnet's decision engine; its impression is counted when it begins to render.</p>
{{end}}</article>
<aside>{{range .Side}}<section class="slot" id="zone-{{.Zone.ID}}"><h3>zone {{.Zone.ID}}</h3>{{.Tag}}</section>{{end}}</aside>
</main>
</body>
</html>
`))

var landingTmpl = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Advertiser landing page</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 640px; margin: 48px auto; padding: 0 24px; }</style>
</head>
<body>
<h1>Thanks for visiting!</h1>
<p>This is the advertiser's landing page. A click on a demo ad brought you here through adnet's
click redirect. The conversion pixel below reports a conversion for your last click.</p>
<p><button id="buy" type="button">Buy now</button> <span id="done"></span></p>
<script>
document.getElementById('buy').addEventListener('click', function () {
  var img = new Image(1, 1);
  img.src = {{.PixelURL}} + '&cb=' + Date.now();
  document.getElementById('done').textContent = 'Order placed — conversion reported.';
});
</script>
<noscript><img src="{{.PixelURL}}" width="1" height="1" alt=""></noscript>
</body>
</html>
`))

type slot struct {
	Zone   models.Zone
	IFrame bool
	Tag    template.HTML
}

// WritePage writes index.html (the publisher page with every zone's tag: the first three
// as script tags, the others as iframes) and landing.html (the advertisers' landing page with
// a conversion pixel) into dir.
func WritePage(dir, baseURL string, zones []models.Zone) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var main, side []slot
	for i, z := range zones {
		iframe := i >= 3
		s := slot{Zone: z, IFrame: iframe, Tag: Tag(baseURL, z, iframe)}
		if z.Width <= 160 {
			side = append(side, s)
		} else {
			main = append(main, s)
		}
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, map[string]any{"Slots": main, "Side": side}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), buf.Bytes(), 0o644); err != nil {
		return err
	}
	buf.Reset()
	if err := landingTmpl.Execute(&buf, map[string]any{"PixelURL": baseURL + "/track/conv?type=pixel"}); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "landing.html"), buf.Bytes(), 0o644)
}
