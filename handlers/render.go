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
			return a.expand(b, cr.HTML, s, true)
		}
		doc := a.expand(nil, cr.HTML, s, true)
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
	b = append(b, "+'&sig='+("...)
	b = append(b, tagSignalsJS...)
	b = append(b, ")()+'&po='+clean(location.origin)+'&cb='+Date.now();}"...)
	b = append(b, tagCleanJS...)
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
	b = append(b, "+'&sig='+("...)
	b = append(b, tagSignalsJS...)
	b = append(b, ")()+'&po='+clean(embedder())+'&cb='+Date.now();}"...)
	b = append(b, tagCleanJS...)
	b = append(b, tagEmbedderJS...)
	b = append(b, `var el=document.querySelector('img');`+
		`if(el&&!el.complete){el.addEventListener('load',imp);}else{(window.requestAnimationFrame||setTimeout)(imp);}})();</script>`...)
	return append(b, "</body></html>\n"...)
}

// The script run by both tags when they fire the beacon (see internal/fraud/doc.go for the
// parameters, which the fraud evaluation also sends).
//
// tagSignalsJS is a function expression returning the automation signals as a bitmask, the
// fraud.Sig* bits: 1 navigator.webdriver, 2 "HeadlessChrome" in navigator.userAgent, 4 a
// Chrome without plugins, 8 a Chrome without window.chrome, 16 no navigator.languages, 32 a
// zero outer window size. A property that throws is skipped.
const tagSignalsJS = "function(){var n=navigator,u=n.userAgent||'',c=/Chrome\\//.test(u),m=0;" +
	"try{if(n.webdriver===true)m|=1;}catch(e){}" +
	"if(/HeadlessChrome/.test(u))m|=2;" +
	"try{if(c&&n.plugins&&n.plugins.length===0)m|=4;}catch(e){}" +
	"try{if(c&&!window.chrome)m|=8;}catch(e){}" +
	"try{if(!n.languages||!n.languages.length)m|=16;}catch(e){}" +
	"try{if(!window.outerWidth||!window.outerHeight)m|=32;}catch(e){}" +
	"return m;}"

// tagCleanJS defines clean(o): the origin reduced to the characters an origin may have (so
// that it goes into the query unescaped: the worker reads it without allocating).
const tagCleanJS = "function clean(o){return String(o||'').replace(/[^A-Za-z0-9.:\\/\\[\\]-]/g,'');}"

// tagEmbedderJS defines embedder(): inside adnet's iframe, the origin of the page embedding
// it — location.ancestorOrigins[0] (Chromium, Safari), else the origin of document.referrer
// (the embedding page's URL or origin under the default Referrer-Policy), else "".
const tagEmbedderJS = "function embedder(){try{var a=location.ancestorOrigins;if(a&&a.length)return a[0];}catch(e){}" +
	"var m=/^[a-z][a-z0-9+.-]*:\\/\\/[^\\/?#]+/i.exec(document.referrer||'');return m?m[0]:'';}"

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

// blankGIF is what {imp_url} becomes in an HTML creative rendered by the script or iframe tag.
const blankGIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

// expand fills the creative's macros for this decision. In the script and iframe tags (tag
// true) {imp_url} is a blank 1×1 GIF data URL: the tag fires the beacon itself, with its
// signals, so a creative firing the URL too would only make a duplicate — and, lacking the
// tag's signals and arriving first (a creative's image loads before the tag's load event),
// it would be counted as automation for a person. /serve/json keeps the real URL: there the
// app or the creative fires it.
func (a *Ads) expand(dst []byte, tpl string, s *adserver.Served, tag bool) []byte {
	d := &s.Decision
	imp := blankGIF
	if !tag {
		imp = a.impURL(s)
	}
	m := decision.Macros{ClickURL: a.clickURL(s), ImpURL: imp, Cachebuster: uint64(s.Time.UnixNano()),
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
