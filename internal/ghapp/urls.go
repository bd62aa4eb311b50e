package ghapp

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultAPIURL is github.com's REST API.
const DefaultAPIURL = "https://api.github.com/"

// defaultUploadURL is github.com's upload API.
const defaultUploadURL = "https://uploads.github.com/"

// APIURLs turns the configured API URL into the REST and upload bases
// go-github wants, each ending in "/":
//
//   - github.com: empty, https://api.github.com or https://github.com (with
//     or without a trailing slash) is https://api.github.com/;
//   - GitHub Enterprise Server: https://HOST, https://HOST/api/v3, with or
//     without a trailing slash, is https://HOST/api/v3/, uploads
//     https://HOST/api/uploads/ (the API is not served anywhere else on the
//     host, so any other path is refused rather than guessed);
//   - a host named api.* (GitHub Enterprise Cloud with data residency)
//     serves the API at its root, and is taken as it is.
//
// The installation-token exchange goes to the REST base too
// (REST + "app/installations/{id}/access_tokens").
func APIURLs(raw string) (rest, uploads string, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return DefaultAPIURL, defaultUploadURL, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("github api url %q: %w", raw, err)
	}
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("github api url %q: %s", raw, why)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("want https://HOST (GitHub Enterprise Server) or https://api.github.com")
	case u.Host == "" || u.Opaque != "":
		return bad("no host; want https://HOST")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return bad("credentials, a query or a fragment do not belong in it")
	}
	host := strings.ToLower(u.Host)
	path := strings.TrimRight(u.EscapedPath(), "/")
	root := u.Scheme + "://" + host
	switch {
	case host == "api.github.com" || host == "github.com":
		if path != "" {
			return bad("github.com's API has no path")
		}
		return DefaultAPIURL, defaultUploadURL, nil
	case strings.HasPrefix(host, "api."):
		base := root + path + "/"
		return base, base, nil
	case path == "":
		path = "/api/v3"
	case !strings.HasSuffix(path, "/api/v3"):
		return bad("GitHub Enterprise Server serves its API at https://HOST/api/v3")
	}
	return root + path + "/", root + strings.TrimSuffix(path, "/v3") + "/uploads/", nil
}
