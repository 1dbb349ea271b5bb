package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConsolePoolServesTheAPI: the REST API answers through nginx from the console's own
// pool, also while every ad worker is at its cap, and /status shows that pool apart.
func TestConsolePoolServesTheAPI(t *testing.T) {
	tp := startTopologyWith(t, topoOptions{top: "max_children = 1\nqueue = 0", demo: true})
	token, _, _ := strings.Cut(tp.run("token", "create", "--email", "admin@demo.adnet.example"), "\n") // stdout first, then the note on stderr
	if !strings.HasPrefix(token, "adn_") {
		t.Fatalf("adnet token create printed %q", token)
	}
	api := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", tp.nginx.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := tp.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	tp.waitFor("the API", func() bool { code, _ := api("/api/v1/me"); return code == http.StatusOK })
	if code, body := api("/api/v1/campaigns"); code != http.StatusOK || !strings.Contains(body, `"items":[{`) {
		t.Fatalf("campaigns: %d %s", code, body)
	}
	if code, _ := api("/api/v1/reports"); code != http.StatusOK {
		t.Fatalf("reports with a token: %d", code)
	}
	if code, _, _ := tp.get("/api/v1/reports"); code != http.StatusUnauthorized {
		t.Fatalf("reports without a token: %d, want 401", code)
	}

	// Every ad worker's only child is held by a slow request: ads are shed (503) while the
	// console's pool answers at once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tp.get("/debug/sleep?ms=3000")
		}()
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	code, _ := api("/api/v1/me")
	took := time.Since(start)
	if c, _, _ := tp.get("/serve/json?zone=1"); c != http.StatusServiceUnavailable {
		t.Errorf("an ad request while the ad workers are at their cap: %d, want 503", c)
	}
	wg.Wait()
	if code != http.StatusOK || took > 2*time.Second {
		t.Fatalf("the API while the ad workers are at their cap: %d after %v", code, took)
	}

	_, body, err := tp.get("/status?json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Workers []json.RawMessage `json:"workers"`
		Console []struct {
			ID    int `json:"id"`
			Stats *struct {
				Accepted    uint64 `json:"accepted"`
				MaxChildren int    `json:"max_children"`
			} `json:"stats"`
		} `json:"console"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Workers) != 2 || len(doc.Console) != 1 || doc.Console[0].Stats == nil ||
		doc.Console[0].Stats.Accepted < 4 || doc.Console[0].Stats.MaxChildren != 8 {
		t.Fatalf("status: %d ad workers, console %+v", len(doc.Workers), doc.Console)
	}
}
