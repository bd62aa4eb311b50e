package rules

import (
	"fmt"
	"strings"
)

// OwnerWarnings lists the reviewer teams GitHub cannot ask for a review on
// the pull requests they are named for: GitHub takes a team's slug and
// looks it up in the organization that owns the repository, so a team
// "otherorg/sre" named for a service whose repository belongs to acme is
// never asked (promobot says so on each such pull request). The rules stay
// valid; the warnings are for whoever loads them. One warning per
// environment, team and repository, naming the services (or generators)
// concerned; nil when there is nothing to say.
func (r *Rules) OwnerWarnings() []string {
	type key struct{ env, team, repo string }
	var order []key
	who := map[key][]string{}
	note := func(env, repo, team, name string) {
		org, _, _ := strings.Cut(team, "/")
		owner, _, _ := strings.Cut(repo, "/")
		if owner == "" || strings.EqualFold(org, owner) {
			return
		}
		k := key{env, team, repo}
		if _, ok := who[k]; !ok {
			order = append(order, k)
		}
		who[k] = append(who[k], name)
	}
	envs := r.EnvNames()
	for i := range r.Services {
		svc := &r.Services[i]
		if _, generated := r.Origin(svc.Name); generated {
			continue // reported once, for its generator, below
		}
		for _, env := range envs {
			if _, ok := svc.Targets[env]; !ok {
				continue
			}
			s, ok := r.Env(svc.Name, env)
			if !ok {
				continue
			}
			for _, t := range s.Reviewers.Teams {
				note(env, svc.Repo, t, "service "+svc.Name)
			}
		}
	}
	for gi := range r.Generators {
		g := &r.Generators[gi]
		for ei, env := range envs {
			if _, ok := g.Service.Targets[env]; !ok {
				continue
			}
			teams := r.Environments[ei].Reviewers.Teams
			if o, ok := g.Service.Environments[env]; ok && o.Reviewers != nil {
				teams = o.Reviewers.Teams
			}
			for _, t := range teams {
				note(env, g.Repo, t, fmt.Sprintf("the services generated from %s", g.Directories))
			}
		}
	}
	var out []string
	for _, k := range order {
		names := who[k]
		list := strings.Join(names, ", ")
		if len(names) > 5 {
			list = fmt.Sprintf("%s and %d more", strings.Join(names[:5], ", "), len(names)-5)
		}
		org, _, _ := strings.Cut(k.team, "/")
		owner, _, _ := strings.Cut(k.repo, "/")
		out = append(out, fmt.Sprintf("environment %s: reviewer team %s belongs to %s, but %s belongs to %s: "+
			"GitHub can ask only teams of %s for a review, so pull requests of %s will not request it",
			k.env, k.team, org, k.repo, owner, owner, list))
	}
	return out
}
