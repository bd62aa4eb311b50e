package rules

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Policy is the organisation policy of the server's rules file: what every
// repository configuration (and the server's own services) is merged with
// and cannot weaken.
type Policy struct {
	// Environments maps an environment name or glob ('prod*') to what it
	// requires there.
	Environments map[string]EnvPolicy `yaml:"environments" json:"environments,omitempty"`
	Images       AllowList            `yaml:"images" json:"images,omitempty"`
	Repositories AllowList            `yaml:"repositories" json:"repositories,omitempty"`

	c *policyCompiled // filled at load
}

// EnvPolicy is what the policy requires in the environments its key matches.
// A nil field requires nothing.
type EnvPolicy struct {
	// Ticket with required: true makes a change ticket required; a
	// configuration may set its own (tighter) pattern, not drop it.
	Ticket *Ticket `yaml:"ticket" json:"ticket,omitempty"`
	// Reviewers are always requested, added to the configuration's own.
	Reviewers *PolicyReviewers `yaml:"reviewers" json:"reviewers,omitempty"`
	// Promoters bound who may promote: a configuration's promoters must be
	// among them; without its own, these are the promoters.
	Promoters *Principals `yaml:"promoters" json:"promoters,omitempty"`
	// Windows are always applied, besides the configuration's own.
	Windows []Window `yaml:"windows" json:"windows,omitempty"`
	// Soak is the minimum soak time; a configuration may ask for more.
	Soak *Duration `yaml:"soak" json:"soak,omitempty"`
	// AutoMerge false: a configuration cannot enable auto-merge.
	AutoMerge *bool `yaml:"autoMerge" json:"autoMerge,omitempty"`
}

// PolicyReviewers are reviewers the policy requests, and how many reviews
// a PR asks for.
type PolicyReviewers struct {
	Users   []string `yaml:"users" json:"users,omitempty"`
	Teams   []string `yaml:"teams" json:"teams,omitempty"`
	Minimum int      `yaml:"minimum" json:"minimum,omitempty"`
}

// AllowList is a list of globs ('*' matches any run of characters,
// '/' included; '?' one character); an empty list allows everything.
type AllowList struct {
	Allow []string `yaml:"allow" json:"allow,omitempty"`
}

// PolicyMarks says what organisation policy raised in an environment's
// settings: what the configuration alone would not have had. Output that
// shows settings marks these "required by organisation policy".
type PolicyMarks struct {
	Ticket        bool       `json:"ticket,omitempty"`    // a ticket made required
	Reviewers     Principals `json:"reviewers,omitempty"` // reviewers added
	ReviewMinimum int        `json:"reviewMinimum,omitempty"`
	Promoters     bool       `json:"promoters,omitempty"` // promoters set by the policy
	Windows       []Window   `json:"windows,omitempty"`   // windows added
	Soak          bool       `json:"soak,omitempty"`      // soak raised to the policy's minimum
	AutoMerge     bool       `json:"autoMerge,omitempty"` // auto-merge kept off
}

// Any reports whether the policy raised anything.
func (m PolicyMarks) Any() bool {
	return m.Ticket || !m.Reviewers.Empty() || m.ReviewMinimum > 0 || m.Promoters || len(m.Windows) > 0 || m.Soak || m.AutoMerge
}

// ByPolicy is the marker output appends to what the policy raised.
const ByPolicy = "required by organisation policy"

type policyCompiled struct {
	envs   []envPolicyCompiled // sorted by key
	images []*regexp.Regexp
	repos  []*regexp.Regexp
}

type envPolicyCompiled struct {
	key     string
	glob    *regexp.Regexp
	p       EnvPolicy
	windows []WindowSchedule
}

// maxGlob bounds a glob's length.
const maxGlob = 255

// compileGlob turns a glob into an anchored regular expression; fold makes
// it case-insensitive (repository names, as on GitHub).
func compileGlob(g string, fold bool) (*regexp.Regexp, error) {
	if g == "" || len(g) > maxGlob {
		return nil, fmt.Errorf("a glob is 1 to %d characters", maxGlob)
	}
	var b strings.Builder
	if fold {
		b.WriteString("(?i)")
	}
	b.WriteString("^")
	for _, r := range g {
		switch {
		case r < 0x20 || r == 0x7f:
			return nil, fmt.Errorf("glob %q has a control character", truncate(g, 40))
		case r == '*':
			b.WriteString(".*")
		case r == '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// compilePolicy validates p, reporting errors at policy.* paths, and
// compiles it. It runs once, when the server's rules file is loaded.
func compilePolicy(c *checker, p *Policy) {
	pc := &policyCompiled{}
	keys := make([]string, 0, len(p.Environments))
	for k := range p.Environments {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ep := p.Environments[k]
		kp := keyPath("policy.environments", k)
		re, err := compileGlob(k, false)
		if err != nil {
			c.addKey(kp, "%v", err)
			continue
		}
		ec := envPolicyCompiled{key: k, glob: re, p: ep}
		if ep.Ticket != nil {
			tmp := &envCompiled{settings: EnvSettings{Ticket: *ep.Ticket}}
			compileEnvPolicy(c, kp, tmp)
			ec.p.Ticket = &tmp.settings.Ticket
		}
		if ep.Reviewers != nil {
			checkPrincipals(c, kp+".reviewers", Principals{Users: ep.Reviewers.Users, Teams: ep.Reviewers.Teams})
			if ep.Reviewers.Minimum < 0 || ep.Reviewers.Minimum > 100 {
				c.add(kp+".reviewers.minimum", "minimum is 0 to 100 reviews")
			}
		}
		if ep.Promoters != nil {
			checkPrincipals(c, kp+".promoters", *ep.Promoters)
		}
		if len(ep.Windows) > 0 {
			tmp := &envCompiled{settings: EnvSettings{Windows: ep.Windows}}
			compileEnvPolicy(c, kp, tmp)
			ec.windows = tmp.windows
		}
		pc.envs = append(pc.envs, ec)
	}
	for i, g := range p.Images.Allow {
		re, err := compileGlob(g, false)
		if err != nil {
			c.add(indexPath("policy.images.allow", i), "%v", err)
			continue
		}
		pc.images = append(pc.images, re)
	}
	for i, g := range p.Repositories.Allow {
		re, err := compileGlob(g, true)
		if err != nil {
			c.add(indexPath("policy.repositories.allow", i), "%v", err)
			continue
		}
		pc.repos = append(pc.repos, re)
	}
	p.c = pc
}

func (p *Policy) compiled() *policyCompiled {
	if p == nil || p.c == nil {
		return &policyCompiled{}
	}
	return p.c
}

// RepoAllowed reports whether the policy's repositories.allow admits repo
// (true without a policy or an allow list).
func (p *Policy) RepoAllowed(repo string) bool {
	pc := p.compiled()
	return len(pc.repos) == 0 || matchAny(pc.repos, repo)
}

// ImageAllowed reports whether images.allow admits image.
func (p *Policy) ImageAllowed(image string) bool {
	pc := p.compiled()
	return len(pc.images) == 0 || matchAny(pc.images, image)
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// forEnv returns the policy entries whose glob matches env, in key order.
func (pc *policyCompiled) forEnv(env string) []*envPolicyCompiled {
	var out []*envPolicyCompiled
	for i := range pc.envs {
		if pc.envs[i].glob.MatchString(env) {
			out = append(out, &pc.envs[i])
		}
	}
	return out
}

// applyPolicy checks r (validated into comp) against its policy and merges
// the policy into every compiled environment. A setting the configuration
// writes that weakens the policy is an error at that setting; a setting it
// leaves out is raised and marked (EnvSettings.Policy).
func applyPolicy(r *Rules, c *checker, comp *compiled, entries []svcEntry) {
	if r.Policy == nil {
		return
	}
	if r.Policy.c == nil {
		compilePolicy(c, r.Policy)
	}
	pc := r.Policy.compiled()
	allow := strings.Join(r.Policy.Images.Allow, ", ")
	for i := range r.Services {
		s := &r.Services[i]
		p := indexPath("services", i)
		note := ""
		if entries != nil {
			p, note = entries[i].path, entries[i].note
		}
		if s.Image != "" && !r.Policy.ImageAllowed(s.Image) {
			c.note = note
			c.add(p+".image", "service %s: image %q is not allowed by organisation policy (images.allow: %s)", s.Name, s.Image, allow)
			c.note = ""
		}
		for env, o := range s.Environments {
			for _, ep := range pc.forEnv(env) {
				checkWeakening(c, keyPath(p+".environments", env), env, ep, o.Ticket, o.Promoters, o.Soak, o.AutoMerge)
			}
		}
	}
	for i := range r.Environments {
		e := &r.Environments[i]
		for _, ep := range pc.forEnv(e.Name) {
			soak := &e.Soak
			if !c.present(indexPath("environments", i) + ".soak") {
				soak = nil
			}
			auto := &e.AutoMerge
			if !c.present(indexPath("environments", i) + ".autoMerge") {
				auto = nil
			}
			checkWeakening(c, indexPath("environments", i), e.Name, ep, &e.Ticket, &e.Promoters, soak, auto)
		}
	}
	done := map[*envCompiled]bool{}
	for _, sc := range comp.svc {
		for env, ec := range sc.envs {
			if done[ec] {
				continue
			}
			done[ec] = true
			for _, ep := range pc.forEnv(env) {
				raise(ec, ep)
			}
		}
	}
}

// checkWeakening reports settings written at p that the policy entry ep
// forbids. A nil argument was not written there.
func checkWeakening(c *checker, p, env string, ep *envPolicyCompiled, t *Ticket, pr *Principals, soak *Duration, autoMerge *bool) {
	where := fmt.Sprintf("organisation policy (policy.environments[%q])", ep.key)
	if ep.p.Ticket != nil && ep.p.Ticket.Required && t != nil && !t.Required && c.present(p+".ticket.required") {
		c.add(p+".ticket.required", "%s requires a change ticket in %s: remove required: false", where, env)
	}
	if ep.p.Soak != nil && soak != nil && soak.Duration < ep.p.Soak.Duration {
		c.add(p+".soak", "%s requires a soak of at least %s in %s", where, ep.p.Soak.Duration, env)
	}
	if ep.p.AutoMerge != nil && !*ep.p.AutoMerge && autoMerge != nil && *autoMerge {
		c.add(p+".autoMerge", "%s does not allow auto-merge in %s", where, env)
	}
	if ep.p.Promoters != nil && pr != nil && !ep.p.Promoters.Empty() {
		for i, u := range pr.Users {
			if !slices.ContainsFunc(ep.p.Promoters.Users, func(x string) bool { return strings.EqualFold(x, u) }) {
				c.add(indexPath(p+".promoters.users", i), "%s does not allow @%s to promote to %s (allowed: %s)", where, u, env, listPrincipals(*ep.p.Promoters))
			}
		}
		for i, tm := range pr.Teams {
			if !slices.ContainsFunc(ep.p.Promoters.Teams, func(x string) bool { return strings.EqualFold(x, tm) }) {
				c.add(indexPath(p+".promoters.teams", i), "%s does not allow @%s to promote to %s (allowed: %s)", where, tm, env, listPrincipals(*ep.p.Promoters))
			}
		}
	}
}

func listPrincipals(p Principals) string {
	var out []string
	for _, u := range p.Users {
		out = append(out, "@"+u)
	}
	for _, t := range p.Teams {
		out = append(out, "@"+t)
	}
	return strings.Join(out, ", ")
}

// raise merges the policy entry into one compiled environment.
func raise(ec *envCompiled, ep *envPolicyCompiled) {
	st := &ec.settings
	m := &st.Policy
	if t := ep.p.Ticket; t != nil && t.Required && !st.Ticket.Required {
		st.Ticket.Required = true
		m.Ticket = true
		if st.Ticket.Pattern == "" {
			st.Ticket.Pattern = t.Pattern
			if st.Ticket.Pattern == "" {
				st.Ticket.Pattern = DefaultTicketPattern
			}
			ec.ticketFind, ec.ticketFull, _ = compileTicketPattern(st.Ticket.Pattern)
		}
		if st.Ticket.URL == "" && t.URL != "" {
			tmp := &envCompiled{settings: EnvSettings{Ticket: *t}}
			compileEnvPolicy(&checker{}, "", tmp)
			st.Ticket.URL, ec.ticketURL = t.URL, tmp.ticketURL
		}
	}
	if rv := ep.p.Reviewers; rv != nil {
		st.Reviewers = clonePrincipals(st.Reviewers)
		for _, u := range rv.Users {
			if !containsFold(st.Reviewers.Users, u) {
				st.Reviewers.Users = append(st.Reviewers.Users, u)
				m.Reviewers.Users = append(m.Reviewers.Users, u)
			}
		}
		for _, t := range rv.Teams {
			if !containsFold(st.Reviewers.Teams, t) {
				st.Reviewers.Teams = append(st.Reviewers.Teams, t)
				m.Reviewers.Teams = append(m.Reviewers.Teams, t)
			}
		}
		m.ReviewMinimum = max(m.ReviewMinimum, rv.Minimum)
	}
	if pr := ep.p.Promoters; pr != nil && !pr.Empty() && st.Promoters.Empty() {
		st.Promoters = clonePrincipals(*pr)
		m.Promoters = true
	}
	if len(ep.windows) > 0 {
		st.Windows = append(append([]Window(nil), st.Windows...), ep.p.Windows...)
		ec.windows = append(append([]WindowSchedule(nil), ec.windows...), ep.windows...)
		m.Windows = append(m.Windows, ep.p.Windows...)
	}
	if ep.p.Soak != nil && st.Soak < ep.p.Soak.Duration {
		st.Soak = ep.p.Soak.Duration
		m.Soak = true
	}
	if ep.p.AutoMerge != nil && !*ep.p.AutoMerge && st.AutoMerge {
		st.AutoMerge = false
		m.AutoMerge = true
	}
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// Notes renders what the policy raised, one phrase each, for output
// that lists settings ("ticket required", "reviewers @acme/release-managers").
func (m PolicyMarks) Notes() []string {
	var out []string
	if m.Ticket {
		out = append(out, "change ticket required")
	}
	if !m.Reviewers.Empty() || m.ReviewMinimum > 0 {
		s := "reviewers " + listPrincipals(m.Reviewers)
		if m.ReviewMinimum > 0 {
			s += fmt.Sprintf(" (at least %d review", m.ReviewMinimum)
			if m.ReviewMinimum > 1 {
				s += "s"
			}
			s += ")"
		}
		out = append(out, strings.TrimSpace(strings.Replace(s, "reviewers  (", "reviews (", 1)))
	}
	if m.Promoters {
		out = append(out, "promoters")
	}
	for _, w := range m.Windows {
		kind, spec := "allow", w.Allow
		if w.Deny != "" {
			kind, spec = "deny", w.Deny
		}
		tz := w.Timezone
		if tz == "" {
			tz = "UTC"
		}
		out = append(out, fmt.Sprintf("%s window %q for %s (%s)", kind, spec, w.Duration.Duration, tz))
	}
	if m.Soak {
		out = append(out, "minimum soak time")
	}
	if m.AutoMerge {
		out = append(out, "no auto-merge")
	}
	return out
}
