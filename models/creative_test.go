package models

import "testing"

func TestCreativeImageURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://cdn.example/ad.png":    true,
		"/static/creatives/a.svg":       true,
		"/uploads/0123456789abcdef.png": true,
		"/uploads/../../etc/passwd":     false,
		"/other/ad.png":                 false,
		"javascript:alert(1)":           false,
		"//evil.example/uploads/x.png":  false,
	} {
		c := Creative{Name: "ad", Status: StatusActive, Kind: CreativeImage, Width: 300, Height: 250, Weight: 1,
			ClickURL: "https://example.com/", ImageURL: url}
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("image_url %q: %v, want ok=%v", url, err, ok)
		}
	}
}
