package handlers

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"image"
	_ "image/gif"  // decode GIF sizes
	_ "image/jpeg" // decode JPEG sizes
	_ "image/png"  // decode PNG sizes
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	_ "golang.org/x/image/webp" // decode WebP sizes

	"adnet/models"
)

// DefaultMaxUpload bounds a creative image: display ads are tens of kilobytes; the IAB's
// guideline for an initial load is 150 KB.
const DefaultMaxUpload = 1 << 20

// uploadTypes are the image types accepted, by their sniffed content type, with the file
// extension they are stored under. SVG is not among them: it can carry scripts.
var uploadTypes = map[string]string{
	"image/png":  ".png",
	"image/jpeg": ".jpg",
	"image/gif":  ".gif",
	"image/webp": ".webp",
}

// Uploads stores creative images under a directory that nginx serves (never executes) at
// URLPrefix, under generated names: a client never chooses a path or an extension.
type Uploads struct {
	Dir       string // e.g. <data_dir>/uploads
	URLPrefix string // e.g. "/uploads/": the public path nginx serves Dir at
	MaxBytes  int64  // 0: DefaultMaxUpload
}

// UploadResult is a stored image: its public URL (relative to the ad server) and its size in
// pixels, for the creative form.
type UploadResult struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	Bytes       int    `json:"bytes"`
}

// Save checks and stores one image read from r: EINVALID unless its content is a PNG, JPEG,
// GIF or WebP image that decodes, ETOOLARGE above the size limit.
func (u *Uploads) Save(r io.Reader) (*UploadResult, error) {
	limit := u.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxUpload
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, models.Errorf(models.EINVALID, "Reading the upload: %v", err)
	}
	if int64(len(data)) > limit {
		return nil, models.Errorf(models.ETOOLARGE, "The image is larger than %d KB.", limit>>10)
	}
	ct := http.DetectContentType(data)
	ext, ok := uploadTypes[ct]
	if !ok {
		return nil, models.Invalid("file", "The file is not a PNG, JPEG, GIF or WebP image (its content is %s).", ct)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width < 1 || cfg.Height < 1 || cfg.Width > 4000 || cfg.Height > 4000 {
		return nil, models.Invalid("file", "The image cannot be read, or is not between 1 and 4000 pixels on each side.")
	}
	var name [16]byte
	_, _ = rand.Read(name[:])
	file := hex.EncodeToString(name[:]) + ext
	if err := writeFileAtomic(filepath.Join(u.Dir, file), data); err != nil {
		return nil, err
	}
	return &UploadResult{URL: strings.TrimRight(u.URLPrefix, "/") + "/" + file, ContentType: ct,
		Width: cfg.Width, Height: cfg.Height, Bytes: len(data)}, nil
}

// upload is POST /api/v1/uploads: one multipart field "file".
func (h *API) upload(r *http.Request, a *models.Actor) (int, any, error) {
	if a.Role != models.RoleAdmin && a.Role != models.RoleAdvertiser {
		return 0, nil, models.Errorf(models.EFORBIDDEN, "Your account may not upload creatives.")
	}
	if h.opt.Uploads == nil {
		return 0, nil, models.Errorf(models.EUNAVAILABLE, "Uploads are not configured on this server.")
	}
	f, err := uploadedFile(r, h.opt.Uploads.MaxBytes)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	res, err := h.opt.Uploads.Save(f)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, created{res.URL, res}, nil
}

// uploadedFile returns the "file" part of a multipart upload, bounded: 413 above the limit
// (plus room for the form's framing), 415 for a body that is not multipart.
func uploadedFile(r *http.Request, limit int64) (io.ReadCloser, error) {
	if limit <= 0 {
		limit = DefaultMaxUpload
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return nil, models.Errorf(models.EUNSUPPORTED, "Send the image as multipart/form-data, in a field named file.")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, limit+64<<10)
	if err := r.ParseMultipartForm(limit + 64<<10); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, models.Errorf(models.ETOOLARGE, "The image is larger than %d KB.", limit>>10)
		}
		return nil, models.Errorf(models.EINVALID, "The upload is not a valid multipart form: %v", err)
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		return nil, models.Invalid("file", "Send the image in a field named file.")
	}
	return f, nil
}

// writeFileAtomic writes data to path (mode 0644) through a temporary file in the same
// directory, so that nginx never serves half an image.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
