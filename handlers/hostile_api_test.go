package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"adnet/models"
)

// TestHostileAPIInput: every bad body gets a clear JSON error, and nothing is half-stored.
func TestHostileAPIInput(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, time.UTC)
	huge := `{"name": "` + strings.Repeat("x", MaxAPIBody) + `"}`
	for _, c := range []struct {
		name, ctype, body string
		status            int
		code, field       string
	}{
		{"oversized body", "application/json", huge, http.StatusRequestEntityTooLarge, models.ETOOLARGE, ""},
		{"not JSON", "application/json", `{"name":`, http.StatusBadRequest, models.EINVALID, ""},
		{"wrong content type", "text/plain", `{"name":"x"}`, http.StatusUnsupportedMediaType, models.EUNSUPPORTED, ""},
		{"unknown field", "application/json", `{"name":"x","colour":"red"}`, http.StatusBadRequest, models.EINVALID, "colour"},
		{"wrong type", "application/json", `{"name":42}`, http.StatusBadRequest, models.EINVALID, "name"},
		{"two values", "application/json", `{"name":"x"} {"name":"y"}`, http.StatusBadRequest, models.EINVALID, ""},
		{"empty name", "application/json", `{"name":"  "}`, http.StatusBadRequest, models.EINVALID, "name"},
	} {
		r := httptest.NewRequest("POST", "/api/v1/advertisers", strings.NewReader(c.body))
		r.Header.Set("Content-Type", c.ctype)
		r.Header.Set("Authorization", "Bearer "+f.tokens["admin"])
		w := httptest.NewRecorder()
		f.mux.ServeHTTP(w, r)
		var b errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || w.Code != c.status || b.Error.Code != c.code ||
			(c.field != "" && b.Error.Fields[c.field] == "") {
			t.Errorf("%s: %d %s; want %d %s with field %q", c.name, w.Code, truncated(w.Body.String()), c.status, c.code, c.field)
		}
	}
	l := decode[listBody[models.Advertiser]](t, f.do("admin", "GET", "/api/v1/advertisers", nil))
	if len(l.Items) != 2 {
		t.Errorf("%d advertisers after bad requests, want the fixture's 2", len(l.Items))
	}
	// SQL metacharacters and markup are data: stored and returned verbatim.
	name := `Robert'); DROP TABLE advertisers;-- <script>alert("x")</script> 100% _fun_ \`
	w := f.do("admin", "POST", "/api/v1/advertisers", map[string]any{"name": name})
	adv := decode[models.Advertiser](t, w)
	if w.Code != http.StatusCreated || adv.Name != name {
		t.Fatalf("create %q: %d %s", name, w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "<script>") {
		t.Errorf("the JSON answer carries raw markup: %s", w.Body)
	}
	got := decode[models.Advertiser](t, f.do("admin", "GET", fmt.Sprint("/api/v1/advertisers/", adv.ID), nil))
	if got.Name != name {
		t.Errorf("read back %q, want %q", got.Name, name)
	}
	found := decode[listBody[models.Advertiser]](t, f.do("admin", "GET", "/api/v1/advertisers?q="+urlQuery("100% _fun_"), nil))
	if len(found.Items) != 1 || found.Items[0].ID != adv.ID {
		t.Errorf("search for LIKE wildcards as text: %+v", found.Items)
	}
	if w := f.do("admin", "GET", "/api/v1/advertisers?limit=0", nil); w.Code != http.StatusBadRequest {
		t.Errorf("limit=0: %d", w.Code)
	}
	if w := f.do("admin", "GET", "/api/v1/campaigns/abc", nil); w.Code != http.StatusNotFound {
		t.Errorf("non-numeric id: %d", w.Code)
	}
	if w := f.do("admin", "DELETE", "/api/v1/campaigns", nil); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") == "" {
		t.Errorf("DELETE on a collection: %d %v", w.Code, w.Header())
	}
}

func truncated(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", " ", "+").Replace(s)
}

// pngBytes is a real w×h PNG image.
func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload posts data as the multipart field "file" named filename.
func (f *apiFixture) upload(who, filename string, data []byte) *httptest.ResponseRecorder {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", filename)
	part.Write(data)
	mw.Close()
	r := httptest.NewRequest("POST", "/api/v1/uploads", &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Authorization", "Bearer "+f.tokens[who])
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	return w
}

// TestUploadsByContent: images are recognised by their bytes, never by their name, stored
// under generated names, and bounded in size.
func TestUploadsByContent(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, time.UTC)
	w := f.upload("advA", "../../etc/passwd.txt", pngBytes(t, 300, 250))
	res := decode[UploadResult](t, w)
	if w.Code != http.StatusCreated || res.Width != 300 || res.Height != 250 || res.ContentType != "image/png" ||
		!strings.HasPrefix(res.URL, "/uploads/") || !strings.HasSuffix(res.URL, ".png") || strings.Contains(res.URL, "passwd") {
		t.Fatalf("a PNG named .txt: %d %s", w.Code, w.Body)
	}
	if _, err := os.Stat(filepath.Join(f.uploads, strings.TrimPrefix(res.URL, "/uploads/"))); err != nil {
		t.Errorf("stored file: %v", err)
	}
	for name, data := range map[string][]byte{
		"shell.png":  []byte("<?php system($_GET['c']); ?>"),
		"page.gif":   []byte("<html><script>alert(1)</script></html>"),
		"vector.svg": []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`),
		"trunc.png":  pngBytes(t, 10, 10)[:30],
		"huge.png":   append(pngBytes(t, 10, 10), make([]byte, 70<<10)...),
		"giant.png":  pngBytes(t, 5000, 1),
	} {
		w := f.upload("advA", name, data)
		if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d %s, want 400 or 413", name, w.Code, w.Body)
		}
	}
	if w := f.upload("advA", "huge.png", append(pngBytes(t, 10, 10), make([]byte, 70<<10)...)); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("over the size limit: %d", w.Code)
	}
	if w := f.upload("pubP", "a.png", pngBytes(t, 10, 10)); w.Code != http.StatusForbidden {
		t.Errorf("publisher upload: %d", w.Code)
	}
	entries, _ := os.ReadDir(f.uploads)
	if len(entries) != 1 {
		t.Errorf("%d files in the upload directory, want only the good PNG", len(entries))
	}
}

// TestOpenAPIDocumentsEveryRoute: the document lists every route the API serves, with
// responses, and is served as JSON.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, time.UTC)
	w := f.do("", "GET", "/api/v1/openapi.json", nil)
	doc := decode[struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}](t, w)
	if w.Code != http.StatusOK || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %d %s", w.Code, truncated(w.Body.String()))
	}
	n := 0
	for _, pattern := range f.api.RoutePatterns() {
		method, path, _ := strings.Cut(pattern, " ")
		op := doc.Paths[path][strings.ToLower(method)]
		if op == nil || op["responses"] == nil {
			t.Errorf("%s is not documented", pattern)
		}
		// The route is really served: a request to it is not the catch-all 404.
		p := strings.NewReplacer("{id}", "1", "{zone}", "1", "{campaign}", "1").Replace(path)
		if r := f.do("admin", method, p, nil); r.Code == http.StatusNotFound && strings.Contains(r.Body.String(), "No such endpoint") {
			t.Errorf("%s is documented but not served", pattern)
		}
		n++
	}
	if n < 40 {
		t.Errorf("only %d routes", n)
	}
	if w := f.do("admin", "GET", "/api/v1/nonsense", nil); w.Code != http.StatusNotFound || errCode(w) != models.ENOTFOUND {
		t.Errorf("unknown endpoint: %d %s", w.Code, w.Body)
	}
}
