package main

import (
	"os"
	"path/filepath"
)

// devConfigPath is where `make run` (scripts/run.sh) writes the development instance's
// configuration, relative to the checkout.
const devConfigPath = "var/adnet.toml"

// devConfig returns the development instance's configuration when a command runs in a
// checkout without --config, $ADNET_CONFIG or ./adnet.toml, so that the commands an operator
// types after `make run` (`bin/adnet report`, `bin/adnet top`) work on that instance:
// var/adnet.toml in the current directory, else beside the bin/ directory holding the
// executable (bin/adnet run from elsewhere). It returns "" when there is none.
func devConfig() string {
	candidates := []string{devConfigPath}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil && filepath.Base(filepath.Dir(exe)) == "bin" {
			candidates = append(candidates, filepath.Join(filepath.Dir(filepath.Dir(exe)), devConfigPath))
		}
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
