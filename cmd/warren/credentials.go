package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/warrenhq/warren/internal/atomicfile"
	"io/fs"
	"os"
	"path/filepath"
)

// credentials is what `warren login` saves for the client commands.
type credentials struct {
	Server   string `json:"server"`
	Token    string `json:"token"`
	Org      string `json:"org,omitempty"`
	Insecure bool   `json:"insecure,omitempty"` // plain http to a non-loopback host was accepted at login
}

// credentialsPath is $XDG_CONFIG_HOME/warren/credentials.json, else
// ~/.config/warren/credentials.json.
func credentialsPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the credentials file: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "warren", "credentials.json"), nil
}

// loadCredentials reads the saved credentials; none saved is the zero
// value without an error.
func loadCredentials() (credentials, error) {
	var c credentials
	path, err := credentialsPath()
	if err != nil {
		return c, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("reading credentials: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("reading credentials %s: %w", path, err)
	}
	return c, nil
}

// saveCredentials writes c with mode 0600, replacing the file atomically.
func saveCredentials(c credentials) (string, error) {
	path, err := credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("saving credentials: %w", err)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(path, append(data, '\n')); err != nil {
		return "", fmt.Errorf("saving credentials: %w", err)
	}
	return path, nil
}

// removeCredentials deletes the saved credentials; none saved is fine.
func removeCredentials() (string, error) {
	path, err := credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("removing credentials: %w", err)
	}
	return path, nil
}
