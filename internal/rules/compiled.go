package rules

import (
	"regexp"
	"text/template"
	"time"

	"github.com/robfig/cron/v3"
)

// compiled holds regexes, templates and cron schedules built by Load.
type compiled struct {
	file   string
	digest string
	vals   map[string]pos // field path → value position, for errors found after Parse (Expand)
	keys   map[string]pos
	base   *Rules        // the unexpanded rules, for an expanded copy
	source *ConfigSource // a repository configuration's origin; nil: the server's file

	// origins names the generator and directory of each generated service,
	// recorded by the expansion that made it.
	origins map[string]Origin

	envIndex map[string]int
	services map[string]*Service
	svc      map[string]*svcCompiled
	title    *template.Template
	branch   *template.Template
}

type svcCompiled struct {
	tagRE       *regexp.Regexp
	sourceTag   *template.Template // nil when the service has no source
	sourceTagRE *regexp.Regexp     // nil: git tag pushes do not count as builds
	envs        map[string]*envCompiled
}

type envCompiled struct {
	settings   EnvSettings
	ticketFind *regexp.Regexp // nil: no pattern
	ticketFull *regexp.Regexp
	ticketURL  *template.Template // nil: no URL
	windows    []WindowSchedule
	health     []*template.Template // health.checks; empty: no health gate
}

// WindowSchedule is a compiled allow or deny window.
type WindowSchedule struct {
	Allow    bool // false: a deny window (freeze)
	Spec     string
	Schedule cron.Schedule
	Duration time.Duration
	Location *time.Location
}

// Open reports whether t falls inside an occurrence of the window: some
// activation s with s <= t < s+Duration.
func (w WindowSchedule) Open(t time.Time) bool {
	_, ok := w.containing(t)
	return ok
}

// containing returns the activation that covers t, if any.
func (w WindowSchedule) containing(t time.Time) (time.Time, bool) {
	// cron.Schedule only answers "next strictly after": the first
	// activation after t-Duration covers t exactly when it is not after t.
	lt := t.In(w.Location)
	s := w.Schedule.Next(lt.Add(-w.Duration))
	if s.IsZero() || s.After(lt) {
		return time.Time{}, false
	}
	return s, lt.Before(s.Add(w.Duration))
}

// End returns when the occurrence of the window that contains t closes
// (zero when t is outside the window).
func (w WindowSchedule) End(t time.Time) time.Time {
	s, ok := w.containing(t)
	if !ok {
		return time.Time{}
	}
	return s.Add(w.Duration)
}

// NextOpen returns the next activation strictly after t (zero when none
// within the scheduler's horizon).
func (w WindowSchedule) NextOpen(t time.Time) time.Time {
	return w.Schedule.Next(t.In(w.Location))
}

var emptyCompiled = &compiled{envIndex: map[string]int{}, services: map[string]*Service{}, svc: map[string]*svcCompiled{}}

// cc returns the compiled state; a Rules built by hand instead of by Parse
// behaves as if it held no services rather than panicking.
func (r *Rules) cc() *compiled {
	if r == nil || r.c == nil {
		return emptyCompiled
	}
	return r.c
}
