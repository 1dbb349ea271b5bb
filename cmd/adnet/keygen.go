package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"adnet/internal/token"
	"adnet/models"
)

// runKeygen creates the tracking key file (tracking.key_file) with a fresh random key, mode
// 0600. With --rotate it makes a new current key and keeps the old one as previous, so tokens
// already in circulation keep verifying; workers pick the new file up on reload (SIGHUP).
func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("keygen", stderr)
	rotate := fs.Bool("rotate", false, "replace the current key, keeping it as the previous key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	file := cfg.Tracking.KeyFile
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("tracking.key_file: %w", err)
	}
	if *rotate {
		if err := token.RotateKeyFile(file); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "adnet keygen: rotated %s (the previous key still verifies); reload the master (SIGHUP)\n", file)
		return nil
	}
	err = token.GenerateKeyFile(file)
	if models.ErrorCode(err) == models.ECONFLICT {
		fmt.Fprintf(stdout, "adnet keygen: %s already exists; kept it (use --rotate to replace the key)\n", file)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "adnet keygen: wrote %s (mode 0600)\n", file)
	return nil
}
