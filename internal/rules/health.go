package rules

import (
	"fmt"
	"strings"
	"time"
)

// Health names the checks that say a tag runs well in an environment:
// commit status contexts or check run names, templates over .Service and
// .Env, and how long a promotion out of the environment waits for them.
type Health struct {
	Checks  []string `yaml:"checks" json:"checks"`
	Timeout Duration `yaml:"timeout" json:"timeout"`
}

// Limits and defaults of health and merge settings.
const (
	// DefaultHealthTimeout is health.timeout when the rules leave it out.
	DefaultHealthTimeout = 30 * time.Minute
	maxHealthChecks      = 20
	maxCheckName         = 255
)

// MergeMethods are the values of mergeMethod, in GitHub's order of
// preference when the rules name none.
var MergeMethods = []string{"merge", "squash", "rebase"}

type healthData struct{ Service, Env string }

// compileEnvMerge validates and compiles environment e's mergeMethod and
// health into ec; p is the environment's path.
func compileEnvMerge(c *checker, p string, e *Environment, ec *envCompiled) {
	if e.MergeMethod != "" && !contains(MergeMethods, e.MergeMethod) {
		c.add(p+".mergeMethod", "invalid mergeMethod %q: want merge, squash or rebase", truncate(e.MergeMethod, 40))
	}
	ec.settings.MergeMethod = e.MergeMethod
	h := e.Health
	if h == nil {
		return
	}
	hp := p + ".health"
	switch {
	case len(h.Checks) == 0:
		c.add(hp+".checks", "health needs at least one check: a commit status context or check run name")
	case len(h.Checks) > maxHealthChecks:
		c.add(hp+".checks", "at most %d health checks, got %d", maxHealthChecks, len(h.Checks))
		return
	}
	ec.settings.HealthTimeout = h.Timeout.Duration
	if !c.present(hp + ".timeout") {
		ec.settings.HealthTimeout = DefaultHealthTimeout
	} else if h.Timeout.Duration <= 0 {
		c.add(hp+".timeout", "health timeout must be positive, such as 30m")
	}
	for i, text := range h.Checks {
		cp := indexPath(hp+".checks", i)
		if strings.TrimSpace(text) == "" {
			c.add(cp, "health check name must not be empty")
			continue
		}
		tpl, err := parseTemplate("check", text, "health")
		if err != nil {
			c.add(cp, "invalid health check template: %v", err)
			continue
		}
		name, err := render(tpl, healthData{Service: "sample-service", Env: e.Name})
		switch {
		case err != nil:
			c.add(cp, "health check template fails: %v", err)
			continue
		case problemCheckName(name) != "":
			c.add(cp, "%s", problemCheckName(name))
			continue
		}
		ec.health = append(ec.health, tpl)
	}
}

func problemCheckName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "health check name renders empty"
	case len(name) > maxCheckName:
		return fmt.Sprintf("health check name longer than %d characters", maxCheckName)
	case strings.ContainsAny(name, "\r\n\x00"):
		return "health check name must be one line"
	}
	return ""
}

// HealthChecks returns the check names a promotion of service out of env
// waits for, rendered for that service; none when env has no health.
func (r *Rules) HealthChecks(service, env string) ([]string, error) {
	ec := r.envc(service, env)
	if ec == nil || len(ec.health) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(ec.health))
	for _, t := range ec.health {
		name, err := render(t, healthData{Service: service, Env: env})
		if err != nil {
			return nil, fmt.Errorf("render health check of %s in %s: %w", service, env, err)
		}
		if msg := problemCheckName(name); msg != "" {
			return nil, fmt.Errorf("health check of %s in %s: %s", service, env, msg)
		}
		out = append(out, name)
	}
	return out, nil
}

// HealthFor returns every (service, environment) of repo whose health
// checks name check: what a status or check run of that name may unblock.
func (r *Rules) HealthFor(repo, check string) []ServiceEnv {
	var out []ServiceEnv
	for _, svc := range r.ServicesIn(repo) {
		for _, e := range r.Environments {
			names, err := r.HealthChecks(svc.Name, e.Name)
			if err != nil {
				// validated at load: a name that fails here names nothing
				continue
			}
			for _, n := range names {
				if n == check {
					out = append(out, ServiceEnv{Service: svc, Env: e.Name})
					break
				}
			}
		}
	}
	return out
}
