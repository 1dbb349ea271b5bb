package evalmix

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"adnet/models"
)

// BrowserProxy lets a real browser (Chromium, driven by the test) take part in the mix: the
// browser uses it as its HTTP proxy. It serves the publishers' pages itself (Pages: a page
// carrying zone tags on a site's own domain, as the publisher would) and forwards everything
// else to the ad server from its own source address — the address the servers see for that
// browser. It records, as the generator's own requests are, every answered serve, beacon and
// click, labelled with its category: the browser's events enter the ledger without the
// browser or the pages knowing the label.
type BrowserProxy struct {
	g      *Generator
	label  label
	pages  func(host, path string) (string, bool)
	adHost string
	tr     *http.Transport
	srv    *http.Server
	ln     net.Listener

	serves, filled, beacons, clicks atomic.Int64
}

// NewBrowserProxy starts a proxy on 127.0.0.1 whose connections to the ad server come from
// ip; the events through it are labelled cat, expected to get reason expect (ReasonValid for
// people). pages returns the HTML of a publisher page (host without port, path with query),
// or false.
func (g *Generator) NewBrowserProxy(ip netip.Addr, cat Category, expect models.Reason, pages func(host, path string) (string, bool)) (*BrowserProxy, error) {
	base, err := url.Parse(g.opt.BaseURL)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip.AsSlice()}, Timeout: 10 * time.Second}
	p := &BrowserProxy{g: g, label: label{cat: cat, expect: expect}, pages: pages, adHost: base.Host, ln: ln,
		tr: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8, DisableCompression: true}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Addr is the proxy's host:port (Chromium's --proxy-server).
func (p *BrowserProxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy.
func (p *BrowserProxy) Close() error {
	p.tr.CloseIdleConnections()
	return p.srv.Close()
}

// Counts are the answered serves (and of those, the filled ones), beacons and clicks so far:
// a driver waits on them to know that a page's tags have done their work.
func (p *BrowserProxy) Counts() (serves, filled, beacons, clicks int64) {
	return p.serves.Load(), p.filled.Load(), p.beacons.Load(), p.clicks.Load()
}

func (p *BrowserProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect || r.URL.Host == "" {
		http.Error(w, "plain HTTP proxy only", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Host != p.adHost {
		host := r.URL.Hostname()
		html, ok := p.pages(host, r.URL.RequestURI())
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, html)
		return
	}
	// The upstream request completes even if the browser gives up on it (a navigation away):
	// the servers count what they answer, so must the ledger.
	out := r.Clone(context.WithoutCancel(r.Context()))
	out.RequestURI = ""
	out.Header.Del("Proxy-Connection")
	out.Header.Del("Proxy-Authorization")
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		p.g.failure("browser " + kindOf(r.URL.Path) + ": " + errClass(err))
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		p.g.failure("browser " + kindOf(r.URL.Path) + ": " + errClass(err))
	}
	p.note(r.URL, resp.StatusCode, body)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

// kindOf names the request kind of an ad-server path for the counts and failures.
func kindOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/serve/"):
		return "serve"
	case path == "/track/imp":
		return "impression"
	case path == "/track/click":
		return "click"
	case path == "/track/conv":
		return "conversion"
	}
	return "other"
}

// note records an answered request to the ad server, as client.serve and client.track do.
func (p *BrowserProxy) note(u *url.URL, status int, body []byte) {
	kind := kindOf(u.Path)
	switch kind {
	case "serve":
		if status != http.StatusOK && status != http.StatusNoContent {
			p.g.failure(fmt.Sprintf("browser serve: status %d", status))
			return
		}
		p.g.answered("serve")
		if status == http.StatusNoContent || !bytes.Contains(body, []byte("/track/imp?t=")) {
			p.g.unfilled()
		} else {
			p.filled.Add(1)
		}
		p.serves.Add(1)
	case "impression", "click":
		t, want, ctr := models.EventImpression, http.StatusOK, &p.beacons
		if kind == "click" {
			t, want, ctr = models.EventClick, http.StatusFound, &p.clicks
		}
		if status != want {
			p.g.failure(fmt.Sprintf("browser %s: status %d", kind, status))
			return
		}
		cl, err := p.g.opt.Tokens.Claims(u.Query().Get("t"), t)
		if err != nil {
			p.g.failure("browser " + kind + ": token the key does not verify")
		}
		ev := p.label.event(t, cl)
		ev.Seq = p.g.seq.Add(1)
		p.g.answered(kind)
		p.g.record(ev)
		ctr.Add(1)
	case "conversion":
		p.g.failure("browser conversion: not expected in the mix")
	}
}
