package handlers

import (
	"html"
	"strconv"

	"adnet/internal/adserver"
	"adnet/internal/decision"
	"adnet/models"
)

// appendCreativeHTML renders the creative as HTML: an image or a text ad wrapped in its click
// link, or the advertiser's HTML with macros expanded. inFrame is true when the HTML goes into
// adnet's own iframe document; in the script tag an HTML creative is isolated from the
// publisher's page in a sandboxed srcdoc iframe, since it is third-party markup.
func (a *Ads) appendCreativeHTML(b []byte, s *adserver.Served, inFrame bool) []byte {
	cr := s.Decision.Creative
	switch cr.Kind {
	case models.CreativeImage:
		b = append(b, `<a href="`...)
		b = a.appendClickURL(b, s)
		b = append(b, `" target="_blank" rel="noopener"><img src="`...)
		b = a.appendAssetURL(b, cr.ImageURL)
		b = append(b, `" width="`...)
		b = strconv.AppendInt(b, int64(cr.Width), 10)
		b = append(b, `" height="`...)
		b = strconv.AppendInt(b, int64(cr.Height), 10)
		b = append(b, `" alt="Advertisement" style="border:0;display:block"></a>`...)
	case models.CreativeText:
		b = append(b, `<a href="`...)
		b = a.appendClickURL(b, s)
		b = append(b, `" target="_blank" rel="noopener" style="display:block;box-sizing:border-box;width:100%;height:100%;padding:8px;`+
			`font:14px/1.4 sans-serif;color:#1a0dab;text-decoration:none;background:#fff;border:1px solid #ddd"><strong>`...)
		b = appendHTML(b, cr.Title)
		b = append(b, `</strong><br><span style="color:#333">`...)
		b = appendHTML(b, cr.Text)
		b = append(b, `</span></a>`...)
	case models.CreativeHTML:
		if inFrame {
			return a.expand(b, cr.HTML, s)
		}
		doc := a.expand(nil, cr.HTML, s)
		b = append(b, `<iframe sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox" width="`...)
		b = strconv.AppendInt(b, int64(cr.Width), 10)
		b = append(b, `" height="`...)
		b = strconv.AppendInt(b, int64(cr.Height), 10)
		b = append(b, `" frameborder="0" scrolling="no" style="border:0;display:block" srcdoc="`...)
		b = append(b, html.EscapeString(`<!doctype html><html><head><base target="_blank"></head><body style="margin:0">`+string(doc)+`</body></html>`)...)
		b = append(b, `"></iframe>`...)
	}
	return b
}

// renderJS writes the script-tag response. The ad is inserted after the tag's own <script>
// element, found through document.currentScript, so tags are independent of each other and
// need no global state. The impression beacon fires when the creative begins to render (IAB/
// MRC): when its image has loaded, when the sandboxed frame has loaded, or on the first
// animation frame after insertion for a text ad.
func (a *Ads) renderJS(b []byte, s *adserver.Served) []byte {
	if !s.Filled {
		return append(b, "/* adnet: no ad for this zone */\n"...)
	}
	cr := s.Decision.Creative
	mp := a.bufs.Get().(*[]byte)
	markup := a.appendCreativeHTML((*mp)[:0], s, false)
	b = append(b, "(function(d){var s=d.currentScript;if(!s||!s.parentNode)return;"...)
	b = append(b, "var w=d.createElement('div');w.className='adnet-ad';w.setAttribute('data-zone','"...)
	b = strconv.AppendInt(b, s.Decision.ZoneID, 10)
	b = append(b, "');w.style.cssText='display:inline-block;overflow:hidden;width:"...)
	b = strconv.AppendInt(b, int64(cr.Width), 10)
	b = append(b, "px;height:"...)
	b = strconv.AppendInt(b, int64(cr.Height), 10)
	b = append(b, "px';w.innerHTML="...)
	b = appendJS(b, markup)
	*mp = markup
	a.bufs.Put(mp)
	b = append(b, ";var fired=false;function imp(){if(fired)return;fired=true;var i=new Image(1,1);i.src="...)
	b = a.appendImpURLJS(b, s)
	b = append(b, "+'&cb='+Date.now();}"...)
	b = append(b, "var el=w.querySelector('img,iframe');if(el){el.addEventListener('load',imp);}"...)
	b = append(b, "s.parentNode.insertBefore(w,s.nextSibling);"...)
	b = append(b, "if(!el){(window.requestAnimationFrame||setTimeout)(imp);}})(document);\n"...)
	return b
}

// renderFrame writes the iframe-tag response: a complete document holding the creative, with
// the beacon fired once it begins to render.
func (a *Ads) renderFrame(b []byte, s *adserver.Served) []byte {
	b = append(b, `<!doctype html><html><head><meta charset="utf-8"><meta name="robots" content="noindex">`+
		`<base target="_blank"><style>html,body{margin:0;padding:0;overflow:hidden;background:transparent}</style></head><body>`...)
	if !s.Filled {
		return append(b, "</body></html>\n"...)
	}
	b = a.appendCreativeHTML(b, s, true)
	b = append(b, `<script>(function(){var fired=false;function imp(){if(fired)return;fired=true;var i=new Image(1,1);i.src=`...)
	b = a.appendImpURLJS(b, s)
	b = append(b, `+'&cb='+Date.now();}var el=document.querySelector('img');`+
		`if(el&&!el.complete){el.addEventListener('load',imp);}else{(window.requestAnimationFrame||setTimeout)(imp);}})();</script>`...)
	return append(b, "</body></html>\n"...)
}

// appendClickURL appends the decision's signed click URL, escaped for an HTML attribute. The
// token is base64url and needs no escaping; the base URL is escaped once, in NewAds.
func (a *Ads) appendClickURL(b []byte, s *adserver.Served) []byte {
	b = append(b, a.htmlBase...)
	b = append(b, "/track/click?t="...)
	return append(b, s.ClickToken()...)
}

// appendImpURLJS appends the decision's signed impression URL as a JavaScript string
// literal.
func (a *Ads) appendImpURLJS(b []byte, s *adserver.Served) []byte {
	b = append(b, a.jsBase...)
	b = append(b, "/track/imp?t="...)
	b = append(b, s.ImpressionToken()...)
	return append(b, '"')
}

// appendAssetURL appends a creative's asset URL escaped for an HTML attribute: a relative
// /static/ or /uploads/ URL is made absolute on the ad server.
func (a *Ads) appendAssetURL(b []byte, u string) []byte {
	if len(u) > 0 && u[0] == '/' {
		b = append(b, a.htmlBase...)
	}
	return appendHTML(b, u)
}

// impURL and clickURL are the signed tracking URLs of a decision, as strings (the JSON answer
// and the macros of HTML creatives).
func (a *Ads) impURL(s *adserver.Served) string {
	return a.opt.BaseURL + "/track/imp?t=" + string(s.ImpressionToken())
}

func (a *Ads) clickURL(s *adserver.Served) string {
	return a.opt.BaseURL + "/track/click?t=" + string(s.ClickToken())
}

// expand fills the creative's macros for this decision.
func (a *Ads) expand(dst []byte, tpl string, s *adserver.Served) []byte {
	d := &s.Decision
	m := decision.Macros{ClickURL: a.clickURL(s), ImpURL: a.impURL(s), Cachebuster: uint64(s.Time.UnixNano()),
		ZoneID: d.ZoneID, CampaignID: d.CampaignID, CreativeID: d.Creative.ID, ImpressionID: s.ImpressionID,
		Width: d.Creative.Width, Height: d.Creative.Height}
	return decision.ExpandMacros(dst, tpl, &m)
}

// assetURL makes a creative's relative /static/ URL absolute on the ad server.
func (a *Ads) assetURL(u string) string {
	if len(u) > 0 && u[0] == '/' {
		return a.opt.BaseURL + u
	}
	return u
}
