package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

var (
	tmplOnce sync.Once
	tmpl     *template.Template
	tmplErr  error
)

func templates() (*template.Template, error) {
	tmplOnce.Do(func() {
		tmpl, tmplErr = template.New("").Funcs(template.FuncMap{
			"short":    shortSHA,
			"stamp":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
			"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
			"digest":   shortDigest,
			"service":  servicePath,
			"safeURL":  safeURL,
			"anchorID": anchorID,
		}).ParseFS(assets, "assets/*.html")
	})
	return tmpl, tmplErr
}

func (h *Handler) render(w http.ResponseWriter, code int, name string, data any) {
	t, err := templates()
	var buf bytes.Buffer
	if err == nil {
		err = t.ExecuteTemplate(&buf, name, data)
	}
	if err != nil {
		h.cfg.Log.Error().Err(err).Str("template", name).Msg("ui: render")
		http.Error(w, "page unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w) // the client went away; nothing to do
}

// chrome is what every page's header shows.
type chrome struct {
	Title  string
	Login  string // "" with NoAuth
	NoAuth bool
}

type messagePage struct {
	chrome
	Text  string
	Retry bool
}

func message(title, text string, retry bool) messagePage {
	return messagePage{chrome: chrome{Title: title}, Text: text, Retry: retry}
}

type indexPage struct {
	chrome
	Filter    filter
	RepoNames []string
	EnvNames  []string
	Repos     []repoView
	Generated time.Time
	Now       time.Time
	Services  int
}

type repoView struct {
	Repository
	Rows []rowView
}

type rowView struct {
	Name  string
	Path  string
	Cells []cellView // aligned with the repository's environments
}

type cellView struct {
	Env string
	C   *Cell // nil: not deployed there
}

func (h *Handler) chrome(title string, v *viewer) chrome {
	return chrome{Title: title, Login: v.login, NoAuth: h.auth == nil}
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := filterFrom(r.URL.Query())
	st, all, envs, err := h.status(r.Context(), v, f)
	if err != nil {
		h.cfg.Log.Error().Err(err).Msg("ui: read status")
		h.render(w, http.StatusServiceUnavailable, "message.html", message("Status unavailable", "The status could not be read; try again shortly.", false))
		return
	}
	p := indexPage{chrome: h.chrome("promobot status", v), Filter: f, RepoNames: all, EnvNames: envs, Generated: st.GeneratedAt, Now: h.now()}
	for _, rp := range st.Repositories {
		rv := repoView{Repository: rp, Rows: make([]rowView, 0, len(rp.Services))}
		idx := make(map[string]int, len(rp.Environments))
		for i, e := range rp.Environments {
			idx[e] = i
		}
		for _, s := range rp.Services {
			row := rowView{Name: s.Name, Path: servicePath(rp.Repo, s.Name), Cells: make([]cellView, len(rp.Environments))}
			for i, e := range rp.Environments {
				row.Cells[i].Env = e
			}
			for i := range s.Cells {
				if j, ok := idx[s.Cells[i].Env]; ok {
					row.Cells[j].C = &s.Cells[i]
				}
			}
			rv.Rows = append(rv.Rows, row)
		}
		p.Services += len(rv.Rows)
		p.Repos = append(p.Repos, rv)
	}
	h.render(w, http.StatusOK, "index.html", p)
}

type timelinePage struct {
	chrome
	Timeline
	Envs     []string
	Newer    string
	Older    string
	RepoLink string
}

func (h *Handler) timeline(w http.ResponseWriter, r *http.Request, v *viewer) {
	tl, found, err := h.timelineData(r.Context(), r, v)
	switch {
	case err != nil:
		h.cfg.Log.Error().Err(err).Msg("ui: read timeline")
		h.render(w, http.StatusServiceUnavailable, "message.html", message("Timeline unavailable", "The timeline could not be read; try again shortly.", false))
		return
	case !found:
		h.render(w, http.StatusNotFound, "message.html", message("Not found", "There is no such service, or you may not see it.", false))
		return
	}
	p := timelinePage{chrome: h.chrome(tl.Service+" · "+tl.Repo, v), Timeline: tl}
	for _, c := range tl.Current {
		p.Envs = append(p.Envs, c.Env)
	}
	base := servicePath(tl.Repo, tl.Service)
	pageURL := func(n int) string {
		q := url.Values{"page": {fmt.Sprint(n)}}
		if tl.PerPage != defaultPerPage {
			q.Set("per_page", fmt.Sprint(tl.PerPage))
		}
		return base + "?" + q.Encode()
	}
	if tl.Page > 1 {
		p.Newer = pageURL(tl.Page - 1)
	}
	if tl.NextPage > 0 {
		p.Older = pageURL(tl.NextPage)
	}
	p.RepoLink = "/?repo=" + url.QueryEscape(tl.Repo)
	h.render(w, http.StatusOK, "timeline.html", p)
}

func servicePath(repo, service string) string {
	owner, name, _ := strings.Cut(repo, "/")
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/services/" + url.PathEscape(service)
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13] + "…"
	}
	return d
}

// safeURL passes only http(s) links into href attributes.
func safeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return s
}

func anchorID(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return "repo-" + b.String()
}
