package appmanifest

import (
	"encoding/json"
	"testing"
)

// FuzzPrepare: any manifest is either refused or comes back as one JSON
// object carrying the local redirect and the webhook promobot was given.
func FuzzPrepare(f *testing.F) {
	f.Add([]byte(manifest), "https://promobot.example.com/webhook")
	f.Add([]byte(`{"name":"a","url":"u","hook_attributes":null}`), "")
	f.Add([]byte(`{"name":"a","url":"u","hook_attributes":[1]}`), "x")
	f.Fuzz(func(t *testing.T, in []byte, hook string) {
		out, err := Prepare(in, hook, "http://127.0.0.1:1/callback")
		if err != nil {
			return
		}
		var m struct {
			RedirectURL string         `json:"redirect_url"`
			Hook        map[string]any `json:"hook_attributes"`
		}
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("prepared manifest is not JSON: %v", err)
		}
		if m.RedirectURL != "http://127.0.0.1:1/callback" {
			t.Fatalf("redirect = %q", m.RedirectURL)
		}
		if hook != "" && m.Hook["url"] != hook {
			t.Fatalf("hook = %v", m.Hook)
		}
	})
}

// FuzzCallbackQuery: the code and organization checks accept only safe
// characters, so nothing from a query reaches a URL path unescaped.
func FuzzCallbackQuery(f *testing.F) {
	f.Add("0123456789abcdef0123")
	f.Add("../x")
	f.Fuzz(func(t *testing.T, s string) {
		if validCode(s) {
			for _, r := range s {
				if r == '/' || r == '.' || r == '%' || r == '?' || r == '#' {
					t.Fatalf("code %q passes", s)
				}
			}
		}
		if validOrg(s) && (len(s) > 39 || s[0] == '-') {
			t.Fatalf("org %q passes", s)
		}
	})
}
