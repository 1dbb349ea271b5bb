package top

import (
	"adnet/internal/monitor"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// Fetcher reads the master's status document, either from the master's own Unix socket or
// from the /status page through nginx.
type Fetcher struct {
	name   string // what is read, shown in the header
	url    string
	client *http.Client
}

// NewURLFetcher reads the status page at url (e.g. http://127.0.0.1:8080/status, from a host
// in nginx.status_allow), asking for its JSON form. The error names url but not the flag or
// setting it came from: the caller adds that.
func NewURLFetcher(url string) (*Fetcher, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("%q: must be an http(s) URL of the status page, e.g. http://127.0.0.1:8080/status", url)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return &Fetcher{name: url, url: url + sep + "json", client: &http.Client{}}, nil
}

// NewSocketFetcher reads the status from the master's status socket (config's StatusSocket),
// which answers even when every worker is saturated.
func NewSocketFetcher(socket string) *Fetcher {
	return &Fetcher{name: socket, url: "http://master/status?json", client: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

// Name is what f reads (the URL or the socket path), for the header of each frame.
func (f *Fetcher) Name() string { return f.name }

// Fetch reads one status document.
func (f *Fetcher) Fetch(ctx context.Context) (*monitor.StatusDoc, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", f.name, resp.Status)
	}
	var doc monitor.StatusDoc
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding the status from %s: %w", f.name, err)
	}
	return &doc, nil
}
