package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"text/template"

	_ "time/tzdata" // time zones must resolve on machines without a zoneinfo database

	yaml "go.yaml.in/yaml/v3"

	"github.com/promobot/promobot/internal/intent"
)

func parseRules(name string, data []byte) (*Rules, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: name, Line: 1, Column: 1, Msg: fmt.Sprintf("rules file is larger than %d bytes", MaxFileSize)}}
	}
	d := &decoder{file: name, vals: map[string]pos{}, keys: map[string]pos{}}
	root := d.parseNode(data)
	if root == nil {
		return nil, d.errs.sorted()
	}
	if root.Kind != yaml.MappingNode {
		d.errAt(root, "", "the rules file must be a mapping with version, environments and services")
		return nil, d.errs.sorted()
	}
	var r Rules
	d.decode(root, reflect.ValueOf(&r).Elem(), "")
	bad := make(map[string]bool, len(d.errs))
	for _, e := range d.errs {
		bad[e.Field] = true
	}
	c := &checker{file: name, vals: d.vals, keys: d.keys, bad: bad, errs: d.errs}
	applyDefaults(&r, c)
	comp := validate(&r, c, nil)
	if len(c.errs) > 0 {
		return nil, c.errs.sorted()
	}
	sum := sha256.Sum256(data)
	comp.digest = hex.EncodeToString(sum[:])
	comp.file, comp.vals, comp.keys = name, d.vals, d.keys
	r.c = comp
	return &r, nil
}

func loadFile(p string) (*Rules, []byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("read rules: %w", err)
	}
	defer f.Close()
	// Read one byte past the limit so that an oversized file is refused
	// without reading all of it.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read rules: %w", err)
	}
	r, err := Parse(p, data)
	return r, data, err
}

func (e Errors) sorted() Errors {
	sort.SliceStable(e, func(i, j int) bool {
		a, b := e[i], e[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Field < b.Field
	})
	return e
}

func applyDefaults(r *Rules, c *checker) {
	if r.Defaults.BaseBranch == "" {
		r.Defaults.BaseBranch = DefaultBaseBranch
	}
	if !c.present("defaults.labels") {
		r.Defaults.Labels = []string{DefaultLabel}
	}
	if r.Defaults.TagPattern == "" {
		r.Defaults.TagPattern = DefaultTagPattern
	}
	if r.Defaults.Title == "" {
		r.Defaults.Title = DefaultTitle
	}
	if r.Defaults.Branch == "" {
		r.Defaults.Branch = DefaultBranch
	}
}

// svcEntry is a service to validate, the path its errors point at and a
// note that prefixes them (the directory of a generated service).
type svcEntry struct {
	path, note string
}

// validate checks everything and compiles what Rules' methods need. Errors
// go to c; the returned value is meaningful only when c has none. entries
// gives, per r.Services index, where errors point (nil: services[i]).
func validate(r *Rules, c *checker, entries []svcEntry) *compiled {
	comp := &compiled{
		envIndex: map[string]int{},
		services: map[string]*Service{},
		svc:      map[string]*svcCompiled{},
	}
	if r.Version != 1 {
		if c.present("version") {
			c.add("version", "unsupported version %d: want 1", r.Version)
		} else {
			c.add("version", "version is required: add version: 1")
		}
	}

	// defaults
	if !ValidBranch(r.Defaults.BaseBranch) {
		c.add("defaults.baseBranch", "invalid branch name %q", r.Defaults.BaseBranch)
	}
	for i, l := range r.Defaults.Labels {
		if !validLabel(l) {
			c.add(indexPath("defaults.labels", i), "invalid label %q: 1 to 50 printable characters", l)
		}
	}
	defaultTagRE, err := compileTagPattern(r.Defaults.TagPattern)
	if err != nil {
		c.add("defaults.tagPattern", "%v", err)
	}
	if t, err := parseTemplate("title", r.Defaults.Title, "title"); err != nil {
		c.add("defaults.title", "invalid title template: %v", err)
	} else {
		comp.title = t
		for _, d := range sampleTitles {
			if _, err := render(t, d); err != nil {
				c.add("defaults.title", "title template fails: %v", err)
				break
			}
		}
	}
	if t, err := parseTemplate("branch", r.Defaults.Branch, "branch"); err != nil {
		c.add("defaults.branch", "invalid branch template: %v", err)
	} else {
		comp.branch = t
	}

	// environments
	if len(r.Environments) == 0 {
		c.add("environments", "at least one environment is required")
	}
	envs := map[string]*envCompiled{}
	for i := range r.Environments {
		e := &r.Environments[i]
		p := indexPath("environments", i)
		switch {
		case e.Name == "":
			c.add(p+".name", "environment name is required")
		case !intent.ValidName(e.Name):
			c.add(p+".name", "invalid environment name %q: lower-case letters, digits, '.', '_', '-'", e.Name)
		default:
			if _, dup := comp.envIndex[e.Name]; dup {
				c.add(p+".name", "duplicate environment %q", e.Name)
				continue
			}
		}
		comp.envIndex[e.Name] = i
		ec := &envCompiled{settings: EnvSettings{
			Name: e.Name, Index: i, Auto: e.Auto, Direct: e.Direct, AutoMerge: e.AutoMerge, SplitTargets: e.SplitTargets,
			Reviewers: e.Reviewers, Promoters: e.Promoters, Ticket: e.Ticket, Soak: e.Soak.Duration,
			Windows: e.Windows, BaseBranch: r.Defaults.BaseBranch,
			Labels: mergeLabels(r.Defaults.Labels, e.Labels, e.Name),
		}}
		checkPrincipals(c, p+".reviewers", e.Reviewers)
		checkPrincipals(c, p+".promoters", e.Promoters)
		checkLabels(c, p+".labels", e.Labels)
		compileEnvPolicy(c, p, ec)
		compileEnvMerge(c, p, e, ec)
		envs[e.Name] = ec
	}

	// services
	for i := range r.Services {
		s := &r.Services[i]
		p := indexPath("services", i)
		if entries != nil {
			p, c.note = entries[i].path, entries[i].note
		}
		sc := validateService(c, r, s, p, defaultTagRE, envs)
		if s.Name != "" && intent.ValidName(s.Name) {
			if _, dup := comp.services[s.Name]; dup {
				c.add(p+".name", "duplicate service %q", s.Name)
			} else {
				comp.services[s.Name] = s
				comp.svc[s.Name] = sc
				checkBranches(c, comp.branch, r, s)
			}
		}
		c.note = ""
	}

	// generators: validate the fields and a sample expansion, so a broken
	// generator fails at load, not when a repository is listed.
	for i := range r.Generators {
		g := &r.Generators[i]
		p := indexPath("generators", i)
		if !validRepo(g.Repo) {
			c.add(p+".repo", "invalid repository %q: want owner/name", g.Repo)
		}
		checkGlob(c, p+".directories", g.Directories)
		for j, x := range g.Exclude {
			checkGlob(c, indexPath(p+".exclude", j), x)
		}
		s, ok := generate(c, g, p, genData{Dir: "sample", Path: "sample"})
		if ok {
			validateService(c, r, s, p+".service", defaultTagRE, envs)
		}
	}
	applyPolicy(r, c, comp, entries)
	return comp
}

func checkGlob(c *checker, p, glob string) {
	if msg := repoPathProblem(glob); msg != "" {
		c.add(p, "%s", msg)
		return
	}
	if _, err := path.Match(glob, ""); err != nil {
		c.add(p, "invalid glob %q", glob)
	}
}

func mergeLabels(lists ...any) []string {
	var out []string
	seen := map[string]bool{}
	addOne := func(l string) {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	for _, l := range lists {
		switch v := l.(type) {
		case []string:
			for _, x := range v {
				addOne(x)
			}
		case string:
			addOne("env:" + v)
		}
	}
	return out
}

func checkLabels(c *checker, p string, labels []string) {
	for i, l := range labels {
		if !validLabel(l) {
			c.add(indexPath(p, i), "invalid label %q: 1 to 50 printable characters", l)
		}
	}
}

func checkPrincipals(c *checker, p string, pr Principals) {
	for i, u := range pr.Users {
		if !userRE.MatchString(u) {
			c.add(indexPath(p+".users", i), "invalid GitHub user %q", u)
		}
	}
	for i, t := range pr.Teams {
		if !teamRE.MatchString(t) {
			c.add(indexPath(p+".teams", i), "invalid team %q: want org/team-slug", t)
		}
	}
}

// compileEnvPolicy validates and compiles ec.settings' ticket and windows;
// p is the path of the YAML that set them.
func compileEnvPolicy(c *checker, p string, ec *envCompiled) {
	t := &ec.settings.Ticket
	pattern := t.Pattern
	if pattern == "" && t.Required {
		pattern = DefaultTicketPattern
		t.Pattern = pattern
	}
	if pattern != "" {
		find, full, err := compileTicketPattern(pattern)
		if err != nil {
			c.add(p+".ticket.pattern", "%v", err)
		}
		ec.ticketFind, ec.ticketFull = find, full
	}
	if t.URL != "" {
		tpl, err := parseTemplate("url", t.URL, "ticket")
		if err != nil {
			c.add(p+".ticket.url", "invalid URL template: %v", err)
		} else if u, err := render(tpl, ticketData{Ticket: "ABC-123"}); err != nil {
			c.add(p+".ticket.url", "URL template fails: %v", err)
		} else if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			c.add(p+".ticket.url", "ticket URL must start with https:// or http://")
		} else {
			ec.ticketURL = tpl
		}
	}
	ec.windows = ec.windows[:0]
	for i, w := range ec.settings.Windows {
		wp := indexPath(p+".windows", i)
		ws, errs := compileWindow(w)
		for _, fm := range errs {
			if fm.field == "" {
				c.add(wp, "%s", fm.msg)
			} else {
				c.add(wp+"."+fm.field, "%s", fm.msg)
			}
		}
		ec.windows = append(ec.windows, ws)
	}
}

// validateService checks one service (explicit or generated) and compiles it.
func validateService(c *checker, r *Rules, s *Service, p string, defaultTagRE *regexp.Regexp, envs map[string]*envCompiled) *svcCompiled {
	sc := &svcCompiled{tagRE: defaultTagRE, envs: map[string]*envCompiled{}}
	switch {
	case s.Name == "":
		c.add(p+".name", "service name is required")
	case !intent.ValidName(s.Name):
		c.add(p+".name", "invalid service name %q: lower-case letters, digits, '.', '_', '-'", s.Name)
	}
	if !validRepo(s.Repo) {
		c.add(p+".repo", "invalid repository %q: want owner/name", s.Repo)
	}
	if !validImage(s.Image) {
		c.add(p+".image", "invalid image %q: want a repository such as registry.example.com/team/app, without tag or digest", s.Image)
	}
	if s.TagPattern != "" {
		re, err := compileTagPattern(s.TagPattern)
		if err != nil {
			c.add(p+".tagPattern", "%v", err)
		}
		sc.tagRE = re
	}
	if src := s.Source; src != nil {
		sp := p + ".source"
		if !validRepo(src.Repo) {
			c.add(sp+".repo", "invalid repository %q: want owner/name", src.Repo)
		}
		if src.Workflow != "" {
			if msg := repoPathProblem(src.Workflow); msg != "" {
				c.add(sp+".workflow", "%s", msg)
			} else if !strings.HasPrefix(src.Workflow, ".github/workflows/") {
				c.add(sp+".workflow", "workflow must be a file under .github/workflows/")
			}
		}
		if src.Branch != "" && !ValidBranch(src.Branch) {
			c.add(sp+".branch", "invalid branch name %q", src.Branch)
		}
		text := src.Tag
		if text == "" {
			text = DefaultSourceTag
		}
		if t, err := parseTemplate("tag", text, "build"); err != nil {
			c.add(sp+".tag", "invalid tag template: %v", err)
		} else if out, err := render(t, sampleBuild); err != nil {
			c.add(sp+".tag", "tag template fails: %v", err)
		} else if !intent.ValidTag(out) {
			c.add(sp+".tag", "tag template renders %q, which is not a valid OCI tag", truncate(out, 60))
		} else {
			sc.sourceTag = t
		}
		if src.TagPattern != "" {
			re, err := compileTagPattern(src.TagPattern)
			if err != nil {
				c.add(sp+".tagPattern", "%v", err)
			}
			sc.sourceTagRE = re
		}
	}

	if len(s.Targets) == 0 {
		c.add(p+".targets", "a service needs targets for at least one environment")
	}
	for env, list := range s.Targets {
		tp := keyPath(p+".targets", env)
		if _, ok := envs[env]; !ok {
			c.addKey(tp, "unknown environment %q%s", env, knownEnvs(r))
			continue
		}
		if len(list) == 0 {
			c.add(tp, "at least one target is required")
		}
		for i, t := range list {
			checkTarget(c, indexPath(tp, i), t)
		}
	}
	for env, o := range s.Environments {
		op := keyPath(p+".environments", env)
		base, ok := envs[env]
		if !ok {
			c.addKey(op, "unknown environment %q%s", env, knownEnvs(r))
			continue
		}
		ec := &envCompiled{settings: base.settings, ticketFind: base.ticketFind, ticketFull: base.ticketFull, ticketURL: base.ticketURL, windows: base.windows}
		st := &ec.settings
		if o.Auto != nil {
			st.Auto = *o.Auto
		}
		if o.Direct != nil {
			st.Direct = *o.Direct
		}
		if o.AutoMerge != nil {
			st.AutoMerge = *o.AutoMerge
		}
		if o.SplitTargets != nil {
			st.SplitTargets = *o.SplitTargets
		}
		if o.Reviewers != nil {
			st.Reviewers = *o.Reviewers
			checkPrincipals(c, op+".reviewers", *o.Reviewers)
		}
		if o.Promoters != nil {
			st.Promoters = *o.Promoters
			checkPrincipals(c, op+".promoters", *o.Promoters)
		}
		if o.Soak != nil {
			st.Soak = o.Soak.Duration
		}
		if o.Labels != nil {
			checkLabels(c, op+".labels", o.Labels)
			st.Labels = mergeLabels(r.Defaults.Labels, o.Labels, env)
		}
		if o.Ticket != nil || o.Windows != nil {
			if o.Ticket != nil {
				st.Ticket = *o.Ticket
				ec.ticketFind, ec.ticketFull, ec.ticketURL = nil, nil, nil
			}
			if o.Windows != nil {
				st.Windows = o.Windows
			}
			// recompile both: the paths point at the override
			compileOverridePolicy(c, op, ec, o)
		}
		sc.envs[env] = ec
	}
	for name, ec := range envs {
		if _, ok := sc.envs[name]; !ok {
			sc.envs[name] = ec
		}
	}
	return sc
}

// compileOverridePolicy compiles a service override's ticket and windows,
// reporting errors at the override's paths.
func compileOverridePolicy(c *checker, op string, ec *envCompiled, o EnvOverride) {
	if o.Ticket != nil {
		tmp := &envCompiled{settings: EnvSettings{Ticket: *o.Ticket}}
		compileEnvPolicy(c, op, tmp)
		ec.settings.Ticket = tmp.settings.Ticket
		ec.ticketFind, ec.ticketFull, ec.ticketURL = tmp.ticketFind, tmp.ticketFull, tmp.ticketURL
	}
	if o.Windows != nil {
		tmp := &envCompiled{settings: EnvSettings{Windows: o.Windows}}
		compileEnvPolicy(c, op, tmp)
		ec.windows = tmp.windows
	}
}

func knownEnvs(r *Rules) string {
	var names []string
	for _, e := range r.Environments {
		names = append(names, e.Name)
	}
	if len(names) == 0 {
		return ""
	}
	return " (known: " + strings.Join(names, ", ") + ")"
}

func checkTarget(c *checker, p string, t Target) {
	kinds := 0
	for _, f := range []struct{ name, val string }{{"kustomize", t.Kustomize}, {"helm", t.Helm}, {"manifest", t.Manifest}} {
		if f.val == "" {
			continue
		}
		kinds++
		if msg := repoPathProblem(f.val); msg != "" {
			c.add(p+"."+f.name, "%s", msg)
		}
	}
	if kinds != 1 {
		c.add(p, "a target sets exactly one of kustomize, helm and manifest (found %d)", kinds)
	}
	switch {
	case t.Helm != "" && t.Field == "":
		c.add(p, "a helm target needs field, the dotted path of the tag (e.g. image.tag)")
	case t.Helm != "" && !fieldRE.MatchString(t.Field):
		c.add(p+".field", "invalid field path %q: dotted keys such as image.tag", t.Field)
	case t.Helm == "" && t.Field != "":
		c.add(p+".field", "field applies only to helm targets")
	}
	switch {
	case t.Manifest != "" && t.Container == "":
		c.add(p, "a manifest target needs container, the name of the container to update")
	case t.Manifest != "" && !containerRE.MatchString(t.Container):
		c.add(p+".container", "invalid container name %q", t.Container)
	case t.Manifest == "" && t.Container != "":
		c.add(p+".container", "container applies only to manifest targets")
	}
}

// checkBranches renders the branch template for every environment of s so
// that an invalid ref name fails at load.
func checkBranches(c *checker, branch *template.Template, r *Rules, s *Service) {
	if branch == nil {
		return
	}
	for _, e := range r.Environments {
		if _, ok := s.Targets[e.Name]; !ok {
			continue
		}
		b, err := render(branch, branchData{Env: e.Name, Service: s.Name})
		if err != nil {
			c.add("defaults.branch", "branch template fails: %v", err)
			return
		}
		if !ValidBranch(b) {
			c.add("defaults.branch", "branch template renders %q for %s/%s, which is not a valid branch name", truncate(b, 80), s.Name, e.Name)
			return
		}
	}
}
