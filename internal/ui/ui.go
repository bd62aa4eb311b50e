package ui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"
)

//go:embed assets
var assets embed.FS

// Config configures the UI.
type Config struct {
	Source Source
	// OAuth enables sign-in with GitHub; nil leaves it off.
	OAuth *OAuth
	// NoAuth serves everything to everyone (local use only; --ui-no-auth).
	NoAuth bool
	Log    zerolog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Handler serves the UI. Without OAuth and without NoAuth it answers 404
// on every path: nothing that shows repository data is open by default.
type Handler struct {
	cfg  Config
	auth *auth
	mux  *http.ServeMux
	now  func() time.Time
}

// New builds the UI handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, now: cfg.Now, mux: http.NewServeMux()}
	if cfg.OAuth != nil {
		a, err := newAuth(*cfg.OAuth, cfg.Now)
		if err != nil {
			return nil, err
		}
		h.auth = a
	}
	if h.Enabled() && cfg.Source == nil {
		return nil, errors.New("ui needs a source")
	}
	h.mux.HandleFunc("GET /{$}", h.page(h.index))
	h.mux.HandleFunc("GET /repos/{owner}/{repo}/services/{service}", h.page(h.timeline))
	h.mux.HandleFunc("GET /api/v1/status", h.api(h.apiStatus))
	h.mux.HandleFunc("GET /api/v1/repos/{owner}/{repo}/services/{service}", h.api(h.apiTimeline))
	h.mux.HandleFunc("GET /ui/style.css", h.style)
	if h.auth != nil {
		h.mux.HandleFunc("GET /auth/login", h.auth.login)
		h.mux.HandleFunc("GET /auth/callback", h.callback)
		h.mux.HandleFunc("POST /auth/logout", h.logout)
	}
	return h, nil
}

// Enabled reports whether the UI serves anything.
func (h *Handler) Enabled() bool { return h.auth != nil || h.cfg.NoAuth }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("Cache-Control", "no-store")
	if !h.Enabled() {
		http.NotFound(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// viewer is who is looking: a signed-in user or everyone (NoAuth).
type viewer struct {
	login string // "" with NoAuth
	repos map[string]bool
	all   bool
}

func (v *viewer) can(repo string) bool { return v.all || v.repos[strings.ToLower(repo)] }

// who resolves the request's viewer; ok false means the response was written.
func (h *Handler) who(w http.ResponseWriter, r *http.Request, api bool) (*viewer, bool) {
	if h.auth == nil {
		return &viewer{all: true}, true
	}
	s, ok := h.auth.current(w, r)
	if !ok {
		if api {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Sign in at /auth/login"})
			return nil, false
		}
		http.Redirect(w, r, "/auth/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil, false
	}
	repos, err := h.auth.readable(r.Context(), s)
	var gerr *github.ErrorResponse
	if err != nil && !(errors.As(err, &gerr) && gerr.Response != nil && gerr.Response.StatusCode == http.StatusUnauthorized) {
		// GitHub is unreachable or failing: the session stays, the page waits.
		h.cfg.Log.Warn().Err(err).Str("login", s.Login).Msg("ui: cannot list the repositories the user can read; answered 503")
		if api {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "cannot check access; try again shortly"})
		} else {
			h.render(w, http.StatusServiceUnavailable, "message.html", message("Try again shortly", "GitHub did not say which repositories you can read.", false))
		}
		return nil, false
	}
	if err != nil {
		h.cfg.Log.Info().Err(err).Str("login", s.Login).Msg("ui: github refused the user's token; signed out")
		h.auth.logout(w)
		if api {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Sign in again"})
		} else {
			http.Redirect(w, r, "/auth/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		}
		return nil, false
	}
	return &viewer{login: s.Login, repos: repos}, true
}

func (h *Handler) page(fn func(http.ResponseWriter, *http.Request, *viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v, ok := h.who(w, r, false); ok {
			fn(w, r, v)
		}
	}
}

func (h *Handler) api(fn func(http.ResponseWriter, *http.Request, *viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v, ok := h.who(w, r, true); ok {
			fn(w, r, v)
		}
	}
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	s, next, err := h.auth.callback(r.Context(), w, r)
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, errSignIn) {
			code = http.StatusBadRequest
		}
		h.cfg.Log.Warn().Err(err).Int("status", code).Msg("ui: sign-in refused")
		h.render(w, code, "message.html", message("Sign-in failed", "Sign-in with GitHub did not complete.", true))
		return
	}
	h.cfg.Log.Info().Str("login", s.Login).Msg("ui: signed in")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	h.auth.logout(w)
	h.render(w, http.StatusOK, "message.html", message("Signed out", "You are signed out.", true))
}

func (h *Handler) style(w http.ResponseWriter, _ *http.Request) {
	b, err := assets.ReadFile("assets/style.css")
	if err != nil {
		http.Error(w, "no stylesheet", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b) // the client went away; nothing to do
}

// filter is the matrix's filters, from the query string.
type filter struct {
	Repo, Service, Env string
}

func filterFrom(q url.Values) filter {
	clip := func(s string) string {
		s = strings.TrimSpace(s)
		if len(s) > 200 {
			s = s[:200]
		}
		return s
	}
	return filter{Repo: clip(q.Get("repo")), Service: clip(q.Get("service")), Env: clip(q.Get("env"))}
}

// status reads the matrix the viewer may see, filtered; all are every
// repository the viewer may see, and envs every environment of those, for
// the filter's choices.
func (h *Handler) status(ctx context.Context, v *viewer, f filter) (st Status, all, envs []string, err error) {
	full, err := h.cfg.Source.Status(ctx)
	if err != nil {
		return Status{}, nil, nil, err
	}
	seen := map[string]bool{}
	st = Status{GeneratedAt: full.GeneratedAt, Repositories: []Repository{}}
	svc := strings.ToLower(f.Service)
	for _, rp := range full.Repositories {
		if !v.can(rp.Repo) {
			continue
		}
		all = append(all, rp.Repo)
		for _, e := range rp.Environments {
			if !seen[e] {
				seen[e] = true
				envs = append(envs, e)
			}
		}
		if f.Repo != "" && !strings.EqualFold(f.Repo, rp.Repo) {
			continue
		}
		out := rp
		if f.Env != "" {
			out.Environments = nil
			for _, e := range rp.Environments {
				if e == f.Env {
					out.Environments = []string{e}
				}
			}
		}
		if svc != "" || f.Env != "" {
			out.Services = make([]Service, 0, len(rp.Services))
			for _, s := range rp.Services {
				if svc != "" && !strings.Contains(strings.ToLower(s.Name), svc) {
					continue
				}
				if f.Env != "" {
					cells := s.Cells
					s.Cells = nil
					for _, c := range cells {
						if c.Env == f.Env {
							s.Cells = append(s.Cells, c)
						}
					}
				}
				out.Services = append(out.Services, s)
			}
		}
		st.Repositories = append(st.Repositories, out)
	}
	return st, all, envs, nil
}

func (h *Handler) apiStatus(w http.ResponseWriter, r *http.Request, v *viewer) {
	st, _, _, err := h.status(r.Context(), v, filterFrom(r.URL.Query()))
	if err != nil {
		h.cfg.Log.Error().Err(err).Msg("ui: read status")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "status unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// perPage bounds the timeline's page size.
const (
	defaultPerPage = 50
	maxPerPage     = 500
)

// timelineData reads one service's timeline page; found is false when the
// viewer may not read the repository or it has no such service (both 404).
func (h *Handler) timelineData(ctx context.Context, r *http.Request, v *viewer) (tl Timeline, found bool, err error) {
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	svc := r.PathValue("service")
	if !v.can(repo) {
		return Timeline{}, false, nil
	}
	changes, found, err := h.cfg.Source.Timeline(ctx, repo, svc)
	if err != nil || !found {
		return Timeline{}, false, err
	}
	full, err := h.cfg.Source.Status(ctx)
	if err != nil {
		return Timeline{}, false, err
	}
	tl = Timeline{Repo: repo, Service: svc, Current: []Cell{}}
	for _, rp := range full.Repositories {
		if !strings.EqualFold(rp.Repo, repo) {
			continue
		}
		tl.Repo = rp.Repo
		for _, s := range rp.Services {
			if s.Name == svc {
				tl.Current = s.Cells
			}
		}
	}
	q := r.URL.Query()
	tl.Page, tl.PerPage = intParam(q.Get("page"), 1, 1, 1<<20), intParam(q.Get("per_page"), defaultPerPage, 1, maxPerPage)
	tl.Total = len(changes)
	start := (tl.Page - 1) * tl.PerPage
	if start > len(changes) {
		start = len(changes)
	}
	end := min(start+tl.PerPage, len(changes))
	tl.Changes = append([]Change{}, changes[start:end]...)
	if end < len(changes) {
		tl.NextPage = tl.Page + 1
	}
	return tl, true, nil
}

func intParam(s string, def, lo, hi int) int {
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo {
		return def
	}
	return min(n, hi)
}

func (h *Handler) apiTimeline(w http.ResponseWriter, r *http.Request, v *viewer) {
	tl, found, err := h.timelineData(r.Context(), r, v)
	switch {
	case err != nil:
		h.cfg.Log.Error().Err(err).Msg("ui: read timeline")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "timeline unavailable"})
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	default:
		writeJSON(w, http.StatusOK, tl)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}
