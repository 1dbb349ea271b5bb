package evalmix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"adnet/models"
)

// addr returns the i-th address of a loopback /16 prefix ("127.X.0.0/16"): 127.X.(i/254).(i%254+1).
func addr(prefix string, i int) netip.Addr {
	p := netip.MustParsePrefix(prefix).Addr().As4()
	return netip.AddrFrom4([4]byte{p[0], p[1], byte(i / 254), byte(i%254 + 1)})
}

// client is one actor's HTTP client: its own source address, User-Agent and, for browsers
// that keep them, cookies.
type client struct {
	g  *Generator
	hc *http.Client
	tr *http.Transport
	ua string
}

// client returns a client whose connections come from ip.
func (g *Generator) client(ip netip.Addr, ua string, cookies bool) *client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip.AsSlice()}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 10 * time.Second,
		DisableCompression: true}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		// A click answers with a redirect to the advertiser: the generator records the click
		// and does not visit the landing page.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if cookies {
		hc.Jar, _ = cookiejar.New(nil)
	}
	return &client{g: g, hc: hc, tr: tr, ua: ua}
}

// close drops the client's idle connections: thousands of actors must not keep sockets open.
func (c *client) close() { c.tr.CloseIdleConnections() }

// get sends GET path (on the ad server) with the actor's User-Agent and the extra headers
// (name, value pairs) and returns the status and up to 1 MB of the body.
func (c *client) get(ctx context.Context, path string, hdr ...string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.g.opt.BaseURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	} else {
		req.Header["User-Agent"] = []string{""} // Go would send its own; an empty UA is a bot signal of its own
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] != "" {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	c.g.sem <- struct{}{}
	defer func() { <-c.g.sem }()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// ad is one served ad.
type ad struct {
	imp, click string // tokens
	claims     Claims
	servedAt   time.Time
	endpoint   string // js, frame or json
	page       string // the page it was served on ("" for apps)
	frameURL   string // the iframe's own URL: the Referer of what the iframe document sends
	ua         string // the browser it was served to
}

// pageOrigin is the origin of the page the ad was served on ("" for apps).
func (a *ad) pageOrigin() string {
	u, err := url.Parse(a.page)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// beaconQuery is what the tag adds to the impression beacon URL of a script or iframe tag
// (nothing for apps' /serve/json ads, nothing on clicks).
func (a *ad) beaconQuery(t models.EventType) string {
	if a.endpoint == "json" || t != models.EventImpression {
		return ""
	}
	return tagBeaconQuery(a.pageOrigin())
}

// tagBeaconQuery is the ONE place that says what a real browser's tag adds to its impression
// beacon URL beyond the token (handlers/render.go, the contract in internal/fraud/doc.go): the
// automation signals of a browser that shows none (sig=0: navigator.webdriver false, no
// headless hints) and the origin of the page the tag runs on (po; for the iframe tag, the
// embedding page from location.ancestorOrigins / document.referrer), sent unescaped as the
// tags send it. Chromium's page views (cmd/adnet) send whatever the real tag sends, so only
// the generator's hand-made beacons depend on this function.
func tagBeaconQuery(pageOrigin string) string {
	return "sig=0&po=" + pageOrigin
}

// beaconReferer is the Referer a browser sends with the ad's impression beacon and click: the
// publisher's page for the script tag, the iframe document for the iframe tag, none from apps.
func (a *ad) beaconReferer() string {
	if a.endpoint == "frame" {
		return a.frameURL
	}
	return a.page
}

var (
	impTokRE   = regexp.MustCompile(`/track/imp\?t=([A-Za-z0-9_-]+)`)
	clickTokRE = regexp.MustCompile(`/track/click\?t=([A-Za-z0-9_-]+)`)
)

// serve requests an ad for zone from the given endpoint (js, frame or json) on page ("" for
// none) and returns it, or false when nothing was served or the request failed. The Referer
// is the page for the script tag, and the page's origin for the iframe tag (a cross-origin
// frame's request, under browsers' default referrer policy).
func (c *client) serve(ctx context.Context, endpoint string, zone int64, page string, hdr ...string) (ad, bool) {
	path := fmt.Sprintf("/serve/%s?zone=%d", endpoint, zone)
	a := ad{endpoint: endpoint, page: page, frameURL: c.g.opt.BaseURL + path, servedAt: time.Now(), ua: c.ua}
	ref := page
	if endpoint == "frame" && page != "" {
		ref = a.pageOrigin() + "/"
	}
	status, body, err := c.get(ctx, path, append([]string{"Referer", ref}, hdr...)...)
	switch {
	case err != nil:
		c.g.failure("serve: " + errClass(err))
		return a, false
	case status == http.StatusNoContent:
		c.g.answered("serve")
		c.g.unfilled()
		return a, false
	case status != http.StatusOK:
		c.g.failure(fmt.Sprintf("serve: status %d", status))
		return a, false
	}
	// The ad was served at the latest now: a person's delay counts from here, so that a slow
	// answer cannot make a human click look faster than it was.
	a.servedAt = time.Now()
	c.g.answered("serve")
	if endpoint == "json" {
		var j struct {
			ImpressionURL string `json:"impression_url"`
			ClickURL      string `json:"click_url"`
		}
		if err := json.Unmarshal(body, &j); err != nil {
			c.g.failure("serve: bad json")
			return a, false
		}
		body = []byte(j.ImpressionURL + " " + j.ClickURL)
	}
	im, cm := impTokRE.FindSubmatch(body), clickTokRE.FindSubmatch(body)
	if im == nil || cm == nil {
		c.g.unfilled()
		return a, false
	}
	a.imp, a.click = string(im[1]), string(cm[1])
	a.claims, err = c.g.opt.Tokens.Claims(a.click, models.EventClick)
	if err != nil {
		c.g.failure("serve: token the key does not verify")
		return a, false
	}
	return a, true
}

// label is what the rules should make of an event.
type label struct {
	cat       Category
	expect    models.Reason
	byAnomaly bool
}

func (l label) event(t models.EventType, cl Claims) Event {
	return Event{Category: l.cat, Type: t, Expect: l.expect, ByAnomaly: l.byAnomaly, ZoneID: cl.ZoneID, ImpressionID: cl.ImpressionID}
}

// trackAd sends a's impression beacon or click as the browser it was served to does: the
// tag's Referer and query parameters.
func (c *client) trackAd(ctx context.Context, t models.EventType, a *ad, l label, hdr ...string) bool {
	tok := a.imp
	if t == models.EventClick {
		tok = a.click
	}
	return c.track(ctx, t, tok, a.claims, a.beaconReferer(), a.beaconQuery(t), l, hdr...)
}

// track sends an impression beacon (t = EventImpression) or a click with token tok, the given
// Referer and extra raw query parameters q, and records it in the ledger when the server answered
// it (a beacon's GIF, a click's redirect): an answered tracking request is a recorded event.
// cl are the token's claims (zero for a forged token).
func (c *client) track(ctx context.Context, t models.EventType, tok string, cl Claims, referer string, q string, l label, hdr ...string) bool {
	path, want, kind := "/track/imp?t=", http.StatusOK, "impression"
	if t == models.EventClick {
		path, want, kind = "/track/click?t=", http.StatusFound, "click"
	}
	ev := l.event(t, cl)
	ev.Seq = c.g.seq.Add(1)
	extra := ""
	if q != "" {
		extra = "&" + q
	}
	status, _, err := c.get(ctx, path+url.QueryEscape(tok)+extra+"&cb="+strconv.FormatInt(ev.Seq, 36), append([]string{"Referer", referer}, hdr...)...)
	if err != nil {
		c.g.failure(kind + ": " + errClass(err))
		return false
	}
	if status != want {
		c.g.failure(fmt.Sprintf("%s: status %d", kind, status))
		return false
	}
	c.g.answered(kind)
	c.g.record(ev)
	return true
}

// postback sends a server-to-server conversion for the click token tok.
func (c *client) postback(ctx context.Context, tok string, cl Claims, l label) bool {
	secret := c.g.opt.PostbackSecret(cl.CampaignID)
	if secret == "" {
		return false
	}
	ev := l.event(models.EventConversion, cl)
	ev.Seq = c.g.seq.Add(1)
	status, body, err := c.get(ctx, "/track/conv?click_id="+url.QueryEscape(tok)+"&secret="+url.QueryEscape(secret)+"&payout=1.25")
	if err != nil {
		c.g.failure("conversion: " + errClass(err))
		return false
	}
	if status != http.StatusOK {
		c.g.failure(fmt.Sprintf("conversion: status %d: %.80s", status, body))
		return false
	}
	c.g.answered("conversion")
	c.g.record(ev)
	return true
}

// pixel fires the advertiser page's conversion pixel in the actor's browser, which carries the
// click cookie of its last click (cl are that click's claims).
func (c *client) pixel(ctx context.Context, cl Claims, referer string, l label) bool {
	ev := l.event(models.EventConversion, cl)
	ev.Seq = c.g.seq.Add(1)
	status, _, err := c.get(ctx, "/track/conv?type=pixel&cb="+strconv.FormatInt(ev.Seq, 36), "Referer", referer)
	if err != nil {
		c.g.failure("conversion: " + errClass(err))
		return false
	}
	if status != http.StatusOK {
		c.g.failure(fmt.Sprintf("conversion pixel: status %d", status))
		return false
	}
	c.g.answered("conversion")
	c.g.record(ev)
	return true
}

// errClass shortens a transport error for the failure counts.
func errClass(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "transport error"
}

// waitUntil sleeps until t (or ctx ends).
func waitUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}
