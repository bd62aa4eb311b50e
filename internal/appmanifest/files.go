package appmanifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// File names under the output directory; the Helm chart's credential keys
// use the first three.
const (
	FileAppID         = "app-id"
	FilePrivateKey    = "private-key.pem"
	FileWebhookSecret = "webhook-secret"
	FileClientID      = "client-id"
	FileClientSecret  = "client-secret"
)

var fileNames = []string{FileAppID, FilePrivateKey, FileWebhookSecret, FileClientID, FileClientSecret}

// CheckOut makes sure dir can take the credentials: it exists or can be
// made (mode 0700), and none of the files is there already. Run it before
// the flow, so an App is not created whose credentials cannot be kept.
func CheckOut(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	for _, n := range fileNames {
		p := filepath.Join(dir, n)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists; promobot does not overwrite credentials (choose another --out)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("output directory: %w", err)
		}
	}
	return nil
}

// Write stores the credentials in dir, each file mode 0600, refusing any
// file that exists. It returns the paths written, by file name.
func Write(dir string, c Credentials) (map[string]string, error) {
	contents := map[string]string{
		FileAppID:         strconv.FormatInt(c.ID, 10),
		FilePrivateKey:    c.PEM,
		FileWebhookSecret: c.WebhookSecret,
		FileClientID:      c.ClientID,
		FileClientSecret:  c.ClientSecret,
	}
	if c.WebhookSecret == "" {
		delete(contents, FileWebhookSecret)
	}
	if c.ClientID == "" {
		delete(contents, FileClientID)
		delete(contents, FileClientSecret)
	}
	written := map[string]string{}
	var errs []error
	for _, n := range fileNames {
		s, ok := contents[n]
		if !ok {
			continue
		}
		p := filepath.Join(dir, n)
		if err := writeNew(p, []byte(s)); err != nil {
			errs = append(errs, err)
			continue
		}
		written[n] = p
	}
	return written, errors.Join(errs...)
}

func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close() // the write error is the one to report
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
