package githubtest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// The OAuth web flow of the App's own OAuth client, as GitHub runs it:
// GET /login/oauth/authorize sends the browser back to the callback with a
// code and the state; POST /login/oauth/access_token exchanges the code for
// a user access token, answering errors with HTTP 200 and an error field.
// Tests say which users exist, which repositories each can read, and who
// is signed in to "GitHub" in the browser.

// oauthCodeTTL is how long an authorization code can be exchanged.
const oauthCodeTTL = 10 * time.Minute

const troubleshootTokens = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"

type oauthState struct {
	clientID, secret, callback string
	signedIn                   string              // the browser's GitHub user; "" denies
	access                     map[string][]string // login → repositories (owner/name) it can read
	codes                      map[string]oauthCode
}

type oauthCode struct {
	login, redirect string
	expires         time.Time
}

// SetOAuthClient registers the App's OAuth client: its client id, its
// client secret and its callback URL.
func (s *Server) SetOAuthClient(clientID, secret, callbackURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthLocked()
	o.clientID, o.secret, o.callback = clientID, secret, callbackURL
}

// SetUserAccess makes login a GitHub user who can read repos (owner/name)
// through the App's installation; no repos: none.
func (s *Server) SetUserAccess(login string, repos ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauthLocked().access[login] = append([]string(nil), repos...)
}

// SignInAs says who is signed in to GitHub in the browser: authorize
// answers for this user. "" makes the user deny the App access.
func (s *Server) SignInAs(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauthLocked().signedIn = login
}

func (s *Server) oauthLocked() *oauthState {
	if s.oauth == nil {
		s.oauth = &oauthState{access: map[string][]string{}, codes: map[string]oauthCode{}}
	}
	return s.oauth
}

// registerOAuth adds the web flow's routes, outside the REST API.
func (s *Server) registerOAuth(mux *http.ServeMux) {
	mux.HandleFunc("GET /login/oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /login/oauth/access_token", s.handleOAuthToken)
}

// pages answers a pull request's web page (the status page links to it)
// before next: its pattern would overlap the API's in a ServeMux.
func (s *Server) pages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if r.Method == http.MethodGet && len(parts) == 4 && parts[2] == "pull" && parts[0] != "api" {
			r.SetPathValue("owner", parts[0])
			r.SetPathValue("repo", parts[1])
			r.SetPathValue("number", parts[3])
			s.handlePullPage(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// handlePullPage is a pull request's page on GitHub, reduced to its title,
// number and state.
func (s *Server) handlePullPage(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("number"))
	if err == nil {
		for _, pr := range s.PullRequests(r.PathValue("owner") + "/" + r.PathValue("repo")) {
			if pr.Number != n {
				continue
			}
			state := pr.State
			if pr.Merged {
				state = "merged"
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>%s by promobot · Pull Request #%d</title></head><body><h1><bdi>%s</bdi> <span>#%d</span></h1><p class=\"State\">%s</p></body></html>",
				html.EscapeString(pr.Title), pr.Number, html.EscapeString(pr.Title), pr.Number, state)
			return
		}
	}
	http.Error(w, "Not Found", http.StatusNotFound)
}

// handleAuthorize is the consent step, answered at once for the signed-in
// user: a redirect to the callback with code and state. An unknown client
// gets GitHub's 404 page; a redirect_uri off the callback is sent to the
// registered callback with error=redirect_uri_mismatch.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthLocked()
	if o.clientID == "" || q.Get("client_id") != o.clientID {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>Page not found · GitHub</title></head><body><h1>404</h1></body></html>")
		return
	}
	state := q.Get("state")
	redirect := q.Get("redirect_uri")
	back := func(v url.Values) {
		if state != "" {
			v.Set("state", state)
		}
		to := o.callback
		if redirect != "" && redirectAllowed(o.callback, redirect) {
			to = redirect
		}
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		http.Redirect(w, r, to+sep+v.Encode(), http.StatusFound)
	}
	switch {
	case redirect != "" && !redirectAllowed(o.callback, redirect):
		back(url.Values{"error": {"redirect_uri_mismatch"},
			"error_description": {"The redirect_uri MUST match the registered callback URL for this application."},
			"error_uri":         {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch"}})
	case o.signedIn == "":
		back(url.Values{"error": {"access_denied"},
			"error_description": {"The user has denied your application access."},
			"error_uri":         {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied"}})
	default:
		code := randomHex(10) // GitHub's codes are 20 hex characters
		o.codes[code] = oauthCode{login: o.signedIn, redirect: redirect, expires: time.Now().Add(oauthCodeTTL)}
		back(url.Values{"code": {code}})
	}
}

// redirectAllowed is GitHub's rule for redirect_uri: same scheme, host and
// port as the callback URL, and a path under the callback's path.
func redirectAllowed(callback, redirect string) bool {
	cb, err1 := url.Parse(callback)
	rd, err2 := url.Parse(redirect)
	if err1 != nil || err2 != nil {
		return false
	}
	return cb.Scheme == rd.Scheme && strings.EqualFold(cb.Host, rd.Host) &&
		(rd.Path == cb.Path || strings.HasPrefix(rd.Path, strings.TrimSuffix(cb.Path, "/")+"/"))
}

// handleOAuthToken exchanges a code for a user access token. Parameters
// come in the form body or the query; the answer's format follows Accept
// (JSON, XML, else form-encoded), and errors are answered with 200.
func (s *Server) handleOAuthToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	get := r.Form.Get
	s.mu.Lock()
	o := s.oauthLocked()
	var fail string
	var c oauthCode
	switch {
	case o.clientID == "" || get("client_id") != o.clientID:
		s.mu.Unlock()
		// GitHub answers an unknown client id with 404.
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"Not Found"}`)
		return
	case get("client_secret") != o.secret:
		fail = "incorrect_client_credentials"
	default:
		var ok bool
		c, ok = o.codes[get("code")]
		switch {
		case !ok || time.Now().After(c.expires):
			fail = "bad_verification_code"
		case get("redirect_uri") != "" && c.redirect != "" && get("redirect_uri") != c.redirect,
			get("redirect_uri") != "" && !redirectAllowed(o.callback, get("redirect_uri")):
			fail = "redirect_uri_mismatch"
		}
		delete(o.codes, get("code")) // a code is used once, even when refused
	}
	var fields [][2]string
	if fail != "" {
		desc := map[string]string{
			"incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
			"bad_verification_code":        "The code passed is incorrect or expired.",
			"redirect_uri_mismatch":        "The redirect_uri MUST match the registered callback URL for this application.",
		}[fail]
		uri := troubleshootTokens + "#" + strings.ReplaceAll(fail, "_", "-")
		if fail == "redirect_uri_mismatch" {
			uri = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch2"
		}
		fields = [][2]string{{"error", fail}, {"error_description", desc}, {"error_uri", uri}}
	} else {
		tok := "ghu_" + randomHex(18)
		s.tokens[tok] = &principal{kind: authStatic, login: c.login, userType: "User", expires: time.Now().Add(8 * time.Hour)}
		fields = [][2]string{{"access_token", tok}, {"expires_in", "28800"}, {"refresh_token", "ghr_" + randomHex(38)},
			{"refresh_token_expires_in", "15811200"}, {"scope", ""}, {"token_type", "bearer"}}
	}
	s.mu.Unlock()
	writeOAuth(w, r.Header.Get("Accept"), fields)
}

func writeOAuth(w http.ResponseWriter, accept string, fields [][2]string) {
	switch {
	case strings.Contains(accept, "application/json"):
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		var b strings.Builder
		b.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(f[0])
			b.Write(k)
			b.WriteByte(':')
			if n, err := strconv.Atoi(f[1]); err == nil && strings.HasSuffix(f[0], "expires_in") {
				b.WriteString(strconv.Itoa(n))
				continue
			}
			v, _ := json.Marshal(f[1])
			b.Write(v)
		}
		b.WriteByte('}')
		_, _ = io.WriteString(w, b.String())
	case strings.Contains(accept, "application/xml"):
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		var b strings.Builder
		b.WriteString("<OAuth>")
		for _, f := range fields {
			b.WriteString("<" + f[0] + ">")
			_ = xml.EscapeText(&b, []byte(f[1]))
			b.WriteString("</" + f[0] + ">")
		}
		b.WriteString("</OAuth>")
		_, _ = io.WriteString(w, b.String())
	default:
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		parts := make([]string, len(fields))
		for i, f := range fields {
			parts[i] = url.QueryEscape(f[0]) + "=" + url.QueryEscape(f[1])
		}
		_, _ = io.WriteString(w, strings.Join(parts, "&"))
	}
}

// userRepos is the repositories (existing ones, sorted) the token's user
// can read through the installation; ok is false for a token that is not
// a user's (an installation token, the App's JWT).
func (s *Server) userRepos(c *reqCtx) (repos []*repo, ok bool) {
	if c.p == nil || c.p.kind != authStatic {
		return nil, false
	}
	o := s.oauthLocked()
	names, listed := o.access[c.p.login]
	if !listed && c.p.login == s.cfg.StaticTokenUser {
		for name := range s.repos { // the static token's owner reads every repository
			names = append(names, name)
		}
	}
	for _, n := range names {
		if rp := s.repos[n]; rp != nil {
			repos = append(repos, rp)
		}
	}
	sort.Slice(repos, func(i, j int) bool { return repos[i].name < repos[j].name })
	return repos, true
}

// handleUserInstallations answers GET /user/installations: the App's
// installation when the user can read a repository in it.
func (s *Server) handleUserInstallations(c *reqCtx) {
	repos, ok := s.userRepos(c)
	if !ok {
		c.error(http.StatusForbidden, "You must authenticate with an access token authorized to a GitHub App in order to list installations")
		return
	}
	list := []*github.Installation{}
	if s.cfg.InstallationID != 0 && len(repos) > 0 {
		list = append(list, s.installation(repos[0].owner))
	}
	c.json(http.StatusOK, map[string]any{"total_count": len(list), "installations": list})
}

// handleUserInstallationRepos answers GET
// /user/installations/{installation_id}/repositories, paged by per_page
// and page with a Link header.
func (s *Server) handleUserInstallationRepos(c *reqCtx) {
	repos, ok := s.userRepos(c)
	if !ok {
		c.error(http.StatusForbidden, "You must authenticate with an access token authorized to a GitHub App in order to list installations")
		return
	}
	id, err := strconv.ParseInt(c.r.PathValue("installation_id"), 10, 64)
	if err != nil || id != s.cfg.InstallationID || id == 0 || len(repos) == 0 {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	q := c.r.URL.Query()
	per := atoiDefault(q.Get("per_page"), 30)
	if per < 1 || per > 100 {
		per = min(max(per, 1), 100)
	}
	page := max(atoiDefault(q.Get("page"), 1), 1)
	start := min((page-1)*per, len(repos))
	end := min(start+per, len(repos))
	out := make([]*github.Repository, 0, end-start)
	for _, rp := range repos[start:end] {
		out = append(out, s.repoJSON(rp))
	}
	if end < len(repos) {
		last := (len(repos) + per - 1) / per
		u := *c.r.URL
		link := func(p int) string {
			v := u.Query()
			v.Set("page", strconv.Itoa(p))
			v.Set("per_page", strconv.Itoa(per))
			u.RawQuery = v.Encode()
			return s.URL() + u.RequestURI()
		}
		c.w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`, link(page+1), link(last)))
	}
	c.json(http.StatusOK, map[string]any{"total_count": len(repos), "repository_selection": "all", "repositories": out})
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}
