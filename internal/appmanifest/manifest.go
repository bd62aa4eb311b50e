package appmanifest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/ghapp"
)

// URLs are GitHub's web base and REST base (each ending in "/") for
// githubURL: empty or https://github.com is github.com and
// https://api.github.com/; https://HOST is a GitHub Enterprise Server, its
// API at https://HOST/api/v3/ as internal/ghapp reads it.
func URLs(githubURL string) (web, api string, err error) {
	raw := strings.TrimSpace(githubURL)
	if raw == "" {
		raw = "https://github.com"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return "", "", fmt.Errorf("github url %q: want https://github.com or a GitHub Enterprise Server's https://HOST", githubURL)
	}
	host := strings.ToLower(u.Host)
	if host == "api.github.com" || host == "www.github.com" {
		host = "github.com"
	}
	web = u.Scheme + "://" + host + "/"
	api, _, err = ghapp.APIURLs(u.Scheme + "://" + host)
	if err != nil {
		return "", "", fmt.Errorf("github url %q: %w", githubURL, err)
	}
	return web, api, nil
}

// maxManifest bounds the manifest read from disk.
const maxManifest = 64 << 10

// Prepare returns the manifest to post: the given one with the webhook URL
// (an empty one: the webhook is created inactive) and the redirect URL of
// the local server filled in. Members it does not know are kept as they are.
func Prepare(manifest []byte, webhookURL, redirectURL string) ([]byte, error) {
	if webhookURL != "" {
		u, err := url.Parse(webhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !utf8.ValidString(webhookURL) {
			return nil, fmt.Errorf("webhook url %q: want https://HOST/webhook", webhookURL)
		}
	}
	if len(manifest) > maxManifest {
		return nil, fmt.Errorf("app manifest over %d bytes", maxManifest)
	}
	dec := json.NewDecoder(bytes.NewReader(manifest))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("app manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("app manifest: more than one JSON value")
	}
	if name, _ := m["name"].(string); strings.TrimSpace(name) == "" {
		return nil, errors.New("app manifest: no name")
	}
	if u, _ := m["url"].(string); u == "" {
		return nil, errors.New("app manifest: no url (GitHub requires the App's homepage)")
	}
	hook, _ := m["hook_attributes"].(map[string]any)
	if hook == nil {
		hook = map[string]any{}
	}
	if webhookURL == "" {
		hook["active"] = false
	} else {
		hook["url"], hook["active"] = webhookURL, true
	}
	m["hook_attributes"] = hook
	m["redirect_url"] = redirectURL
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("app manifest: %w", err)
	}
	return out, nil
}

// checkKey makes sure the PEM GitHub sent is an RSA private key.
func checkKey(s string) error {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return errors.New("not PEM")
	}
	if _, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return nil
	}
	if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
		return fmt.Errorf("not an RSA private key: %w", err)
	}
	return nil
}
