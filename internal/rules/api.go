package rules

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/promobot/promobot/internal/intent"
)

// THE SIGNATURES IN THIS FILE ARE THE CONTRACT OTHER PACKAGES CODE AGAINST.

// FieldError is one validation error with its position.
type FieldError struct {
	File   string
	Line   int
	Column int
	Field  string // e.g. services[2].targets.prod[0].kustomize
	Msg    string
}

// Error renders file:line:col: field: msg.
func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every validation error of one file, in file order.
type Errors []FieldError

// Error prints one error per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Parse decodes and validates a rules file from bytes. name is used in
// error positions. Every error is reported at once as Errors.
// The returned *Rules is not expanded: call Expand when generators are used.
func Parse(name string, data []byte) (*Rules, error) { return parseRules(name, data) }

// Load reads and parses a rules file from disk.
func Load(path string) (*Rules, error) {
	r, _, err := loadFile(path)
	return r, err
}

// Expand returns a copy of r with generators expanded against the directory
// listing of each generator's repository. A generated service named like an
// explicit one is an error: exclude its directory from the generator.
// Generated services are validated like explicit ones (errors point at the
// generator and name the directory); a generated name that clashes with
// another service is an error: exclude the directory to keep the explicit one.
// Expanding an expanded value starts again from the file's services.
func (r *Rules) Expand(ctx context.Context, repos func(repo string) (fs.FS, error)) (*Rules, error) {
	return r.expand(ctx, repos)
}

// Service returns the service by name.
func (r *Rules) Service(name string) (*Service, bool) {
	s, ok := r.cc().services[name]
	return s, ok
}

// ServicesIn returns the services whose GitOps repository is repo, sorted by name.
// Repository names compare case-insensitively, as on GitHub.
func (r *Rules) ServicesIn(repo string) []*Service {
	return r.services(func(s *Service) bool { return strings.EqualFold(s.Repo, repo) })
}

// services returns the services keep accepts, sorted by name.
func (r *Rules) services(keep func(*Service) bool) []*Service {
	var out []*Service
	for i := range r.Services {
		if s := &r.Services[i]; keep(s) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// EnvNames returns the environments in promotion order.
func (r *Rules) EnvNames() []string {
	out := make([]string, len(r.Environments))
	for i, e := range r.Environments {
		out[i] = e.Name
	}
	return out
}

// Env returns service's effective settings for environment env.
// ok is false for an unknown service or environment. Slices are copies.
func (r *Rules) Env(service, env string) (EnvSettings, bool) {
	ec := r.envc(service, env)
	if ec == nil {
		return EnvSettings{}, false
	}
	s := ec.settings
	s.Reviewers = clonePrincipals(s.Reviewers)
	s.Promoters = clonePrincipals(s.Promoters)
	s.Windows = append([]Window(nil), s.Windows...)
	s.Labels = append([]string(nil), s.Labels...)
	return s, true
}

// Windows returns the compiled allow and deny windows of service in env.
func (r *Rules) Windows(service, env string) []WindowSchedule {
	ec := r.envc(service, env)
	if ec == nil {
		return nil
	}
	return append([]WindowSchedule(nil), ec.windows...)
}

func (r *Rules) envc(service, env string) *envCompiled {
	sc := r.cc().svc[service]
	if sc == nil {
		return nil
	}
	return sc.envs[env]
}

func clonePrincipals(p Principals) Principals {
	return Principals{Users: append([]string(nil), p.Users...), Teams: append([]string(nil), p.Teams...)}
}

// Next returns the environment after env in promotion order that svc has
// targets for; ok is false when env is the last.
func (r *Rules) Next(svc *Service, env string) (next string, ok bool) {
	i, known := r.cc().envIndex[env]
	if !known || svc == nil {
		return "", false
	}
	for _, e := range r.Environments[i+1:] {
		if _, has := svc.Targets[e.Name]; has {
			return e.Name, true
		}
	}
	return "", false
}

// Prev returns the environment before env that svc has targets for.
func (r *Rules) Prev(svc *Service, env string) (prev string, ok bool) {
	i, known := r.cc().envIndex[env]
	if !known || svc == nil {
		return "", false
	}
	for j := i - 1; j >= 0; j-- {
		if _, has := svc.Targets[r.Environments[j].Name]; has {
			return r.Environments[j].Name, true
		}
	}
	return "", false
}

// First returns the first environment svc has targets for.
func (r *Rules) First(svc *Service) string {
	if svc == nil {
		return ""
	}
	for _, e := range r.Environments {
		if _, has := svc.Targets[e.Name]; has {
			return e.Name
		}
	}
	return ""
}

// MatchWorkflow returns the services whose source is repo, workflow path and
// branch (a workflow_run that built them), sorted by name.
// An empty source workflow or branch matches any. A workflowPath with an
// "@ref" suffix (as GitHub reports for reusable workflows) is compared without it.
func (r *Rules) MatchWorkflow(repo, workflowPath, branch string) []*Service {
	workflowPath, _, _ = strings.Cut(workflowPath, "@")
	return r.services(func(s *Service) bool {
		src := s.Source
		return src != nil && strings.EqualFold(src.Repo, repo) &&
			(src.Workflow == "" || src.Workflow == workflowPath) &&
			(src.Branch == "" || src.Branch == branch)
	})
}

// MatchTag returns the services whose source repo is repo and whose source
// tagPattern matches the pushed git tag.
// A source without tagPattern never matches; an invalid OCI tag never
// matches. Sorted by name.
func (r *Rules) MatchTag(repo, tag string) []*Service {
	if !intent.ValidTag(tag) {
		return nil
	}
	return r.services(func(s *Service) bool {
		sc := r.cc().svc[s.Name]
		return s.Source != nil && strings.EqualFold(s.Source.Repo, repo) &&
			sc != nil && sc.sourceTagRE != nil && sc.sourceTagRE.MatchString(tag)
	})
}

// Touched returns, for a push to repo, every service environment that has a
// target file among paths, sorted by service then environment order.
// A kustomize directory target matches its kustomization file.
// A kustomize file target and helm and manifest targets match their file.
func (r *Rules) Touched(repo string, paths []string) []ServiceEnv {
	changed := make(map[string]bool, len(paths))
	for _, p := range paths {
		changed[strings.TrimPrefix(p, "./")] = true
	}
	var out []ServiceEnv
	for _, s := range r.ServicesIn(repo) {
		for _, e := range r.Environments {
			if touches(s.Targets[e.Name], changed) {
				out = append(out, ServiceEnv{Service: s, Env: e.Name})
			}
		}
	}
	return out
}

func touches(list TargetList, changed map[string]bool) bool {
	for _, t := range list {
		for _, f := range t.Files() {
			if changed[f] {
				return true
			}
		}
	}
	return false
}

// RenderTag renders svc's source tag template.
// ShortSHA defaults to the first 7 characters of SHA. The result must be a
// valid OCI tag.
func (r *Rules) RenderTag(svc *Service, b BuildInfo) (string, error) {
	if svc == nil || svc.Source == nil {
		return "", fmt.Errorf("render tag: service has no source")
	}
	sc := r.cc().svc[svc.Name]
	if sc == nil || sc.sourceTag == nil {
		return "", fmt.Errorf("render tag: unknown service %q", svc.Name)
	}
	if b.ShortSHA == "" && len(b.SHA) >= 7 {
		b.ShortSHA = b.SHA[:7]
	}
	tag, err := render(sc.sourceTag, b)
	if err != nil {
		return "", fmt.Errorf("render tag of %s: %w", svc.Name, err)
	}
	if !intent.ValidTag(tag) {
		return "", fmt.Errorf("render tag of %s: %q is not a valid OCI tag", svc.Name, truncate(tag, 80))
	}
	return tag, nil
}

// TagAllowed reports whether tag matches the service's tag pattern.
// An invalid OCI tag is never allowed.
func (r *Rules) TagAllowed(svc *Service, tag string) bool {
	if svc == nil || !intent.ValidTag(tag) {
		return false
	}
	sc := r.cc().svc[svc.Name]
	return sc != nil && sc.tagRE != nil && sc.tagRE.MatchString(tag)
}

// TicketURL renders env's ticket URL template for key ("" when none is configured).
// key must be a valid ticket (TicketValid); it is path-escaped into the URL.
func (r *Rules) TicketURL(service, env, key string) (string, error) {
	ec := r.envc(service, env)
	if ec == nil {
		return "", fmt.Errorf("ticket url: unknown service %q or environment %q", service, env)
	}
	if ec.ticketURL == nil || key == "" {
		return "", nil
	}
	if !r.TicketValid(service, env, key) {
		return "", fmt.Errorf("ticket url: %q does not match the ticket pattern of %s", truncate(key, 40), env)
	}
	u, err := render(ec.ticketURL, ticketData{Ticket: url.PathEscape(key)})
	if err != nil {
		return "", fmt.Errorf("ticket url: %w", err)
	}
	return u, nil
}

// FindTicket returns the first ticket key matching env's pattern in texts ("" if none).
// Without a pattern there is nothing to find.
func (r *Rules) FindTicket(service, env string, texts ...string) string {
	ec := r.envc(service, env)
	if ec == nil || ec.ticketFind == nil {
		return ""
	}
	for _, t := range texts {
		if m := ec.ticketFind.FindString(t); m != "" {
			return m
		}
	}
	return ""
}

// TicketValid reports whether key matches env's ticket pattern (true when no pattern).
// The key must match the whole pattern. Unknown service or env: false.
func (r *Rules) TicketValid(service, env, key string) bool {
	ec := r.envc(service, env)
	if ec == nil {
		return false
	}
	if ec.ticketFull == nil {
		return true
	}
	return ec.ticketFull.MatchString(key)
}

// Title renders the PR title.
// Service and Services complete each other when one is empty; the result is
// one line of at most 256 characters.
func (r *Rules) Title(d TitleData) (string, error) {
	if d.Service == "" && len(d.Services) == 1 {
		d.Service = d.Services[0]
	}
	if len(d.Services) == 0 && d.Service != "" {
		d.Services = []string{d.Service}
	}
	t, err := render(r.cc().title, d)
	if err != nil {
		return "", fmt.Errorf("render title: %w", err)
	}
	t = strings.Join(strings.Fields(t), " ")
	if len(t) > 256 {
		t = strings.ToValidUTF8(t[:255], "") + "…"
	}
	return t, nil
}

// Branch renders the branch name for a target (default promobot/<env>/<service>).
// The result is checked like `git check-ref-format --branch`.
func (r *Rules) Branch(env, service string) (string, error) {
	b, err := render(r.cc().branch, branchData{Env: env, Service: service})
	if err != nil {
		return "", fmt.Errorf("render branch: %w", err)
	}
	if !ValidBranch(b) {
		return "", fmt.Errorf("render branch: %q is not a valid branch name", truncate(b, 80))
	}
	return b, nil
}

// Grouped reports whether n services that one event promotes into one
// environment go into one PR there (defaults.group): never; always; or,
// with auto, when n is more than groupAbove (default DefaultGroupAbove).
// Fewer PRs cost fewer GitHub writes (a PR is five to seven of them) but
// review and merge as one.
func (r *Rules) Grouped(n int) bool {
	switch r.Defaults.Group {
	case GroupAlways:
		return n > 0
	case GroupAuto:
		above := r.Defaults.GroupAbove
		if above <= 0 {
			above = DefaultGroupAbove
		}
		return n > above
	}
	return false
}

// Digest is the SHA-256 of the rules file's bytes, hex-encoded.
func (r *Rules) Digest() string { return r.cc().digest }

// TitleData is what the title template can use.
type TitleData struct {
	Service  string
	Services []string
	Tag      string
	Env      string
	From     string
	Ticket   string
	Rollback bool
}

// TargetFile returns the repository path of the file that holds the tag:
// for a kustomize directory, the first of kustomization.yaml,
// kustomization.yml, Kustomization for which exists(path) is true.
// For a kustomize directory where none exists the result is "". A nil
// exists takes the first candidate.
func (t Target) TargetFile(exists func(path string) bool) string {
	files := t.Files()
	if len(files) == 1 {
		return files[0]
	}
	for _, f := range files {
		if exists == nil || exists(f) {
			return f
		}
	}
	return ""
}

// KustomizationNames are the file names Kustomize reads in a directory, in
// the order it looks for them.
var KustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// IsKustomizeDir reports whether t is a kustomize target naming a directory
// (rather than a kustomization file).
func (t Target) IsKustomizeDir() bool {
	return t.Kustomize != "" && !contains(KustomizationNames, path.Base(t.Kustomize))
}

// Files returns the repository paths that may hold t's tag: the three
// kustomization names for a kustomize directory, else the one file.
func (t Target) Files() []string {
	switch {
	case t.IsKustomizeDir():
		out := make([]string, len(KustomizationNames))
		for i, n := range KustomizationNames {
			out[i] = t.Kustomize + "/" + n
		}
		return out
	case t.Kustomize != "":
		return []string{t.Kustomize}
	case t.Helm != "":
		return []string{t.Helm}
	case t.Manifest != "":
		return []string{t.Manifest}
	}
	return nil
}

// Kind names the editor t needs: "kustomize", "helm" or "manifest".
func (t Target) Kind() string {
	switch {
	case t.Kustomize != "":
		return "kustomize"
	case t.Helm != "":
		return "helm"
	case t.Manifest != "":
		return "manifest"
	}
	return ""
}

// Part names a target among its environment's targets, for branches and
// leases when the environment opens one PR per target: the last directory
// of a kustomize overlay (prod-eu), or a file's name without extension.
func (t Target) Part() string {
	p := t.Kustomize
	switch {
	case t.Helm != "":
		p = t.Helm
	case t.Manifest != "":
		p = t.Manifest
	}
	base := path.Base(p)
	if slices.Contains(KustomizationNames, base) {
		base = path.Base(path.Dir(p))
	}
	base = strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
	return strings.ToLower(base)
}
