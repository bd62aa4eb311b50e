// Package rules loads, validates and answers questions about the promotion
// rules file (config/promotion-rules.yaml is the commented example). A
// *Rules value is immutable after Load and safe for concurrent use;
// reloading produces a new value.
package rules

import (
	"fmt"
	"time"
)

// Rules is a validated rules file with generators expanded (when a repository
// listing was available) and every regex, template and cron spec compiled.
type Rules struct {
	Version      int           `yaml:"version" json:"version"`
	Defaults     Defaults      `yaml:"defaults" json:"defaults"`
	Environments []Environment `yaml:"environments" json:"environments"`
	Services     []Service     `yaml:"services" json:"services"`
	Generators   []Generator   `yaml:"generators" json:"generators,omitempty"`

	// compiled state, filled by Load; see compiled.go
	c *compiled
}

// Defaults apply to every service and environment unless overridden.
type Defaults struct {
	BaseBranch string   `yaml:"baseBranch" json:"baseBranch"`
	Labels     []string `yaml:"labels" json:"labels"`
	TagPattern string   `yaml:"tagPattern" json:"tagPattern"`
	// Group says whether the services one event promotes into one
	// environment share one PR: false (one PR per service), true (one PR
	// per environment) or auto (one per environment when the event would
	// open more than GroupAbove PRs into it). See Rules.Grouped.
	Group Grouping `yaml:"group" json:"group"`
	// GroupAbove is group: auto's threshold; 0: DefaultGroupAbove.
	GroupAbove int `yaml:"groupAbove" json:"groupAbove,omitempty"`
	// Title is the PR title template; fields: .Service, .Services, .Tag, .Env, .From, .Ticket.
	Title string `yaml:"title" json:"title,omitempty"`
	// Branch is the branch template; fields: .Env, .Service.
	Branch string `yaml:"branch" json:"branch,omitempty"`
}

// Grouping is the value of defaults.group: false, true or auto.
type Grouping int

// The groupings.
const (
	GroupNever  Grouping = iota // false: one PR per service
	GroupAlways                 // true: one PR per environment
	GroupAuto                   // auto: one PR per environment above groupAbove services
)

// String is the value as written in the rules file.
func (g Grouping) String() string {
	switch g {
	case GroupAlways:
		return "true"
	case GroupAuto:
		return "auto"
	}
	return "false"
}

// MarshalJSON writes false, true or "auto".
func (g Grouping) MarshalJSON() ([]byte, error) {
	if g == GroupAuto {
		return []byte(`"auto"`), nil
	}
	return []byte(g.String()), nil
}

// UnmarshalJSON reads false, true or "auto".
func (g *Grouping) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "false", "null":
		*g = GroupNever
	case "true":
		*g = GroupAlways
	case `"auto"`:
		*g = GroupAuto
	default:
		return fmt.Errorf("group: want true, false or \"auto\", got %s", b)
	}
	return nil
}

// MarshalYAML writes false, true or auto.
func (g Grouping) MarshalYAML() (any, error) {
	if g == GroupAuto {
		return "auto", nil
	}
	return g == GroupAlways, nil
}

// Environment is one stage of the promotion order.
type Environment struct {
	Name      string `yaml:"name" json:"name"`
	Auto      bool   `yaml:"auto" json:"auto"`
	Direct    bool   `yaml:"direct" json:"direct"`
	AutoMerge bool   `yaml:"autoMerge" json:"autoMerge"`
	// SplitTargets opens one PR per target (e.g. one per regional overlay)
	// instead of one PR that changes them together.
	SplitTargets bool       `yaml:"splitTargets" json:"splitTargets,omitempty"`
	Reviewers    Reviewers  `yaml:"reviewers" json:"reviewers"`
	Promoters    Principals `yaml:"promoters" json:"promoters"`
	Ticket       Ticket     `yaml:"ticket" json:"ticket"`
	Soak         Duration   `yaml:"soak" json:"soak"`
	Windows      []Window   `yaml:"windows" json:"windows,omitempty"`
	Labels       []string   `yaml:"labels" json:"labels,omitempty"` // added to defaults.labels
	// LagWarning raises a drift flag when the environment has run another
	// tag than the environment before it for longer than this ("7d").
	LagWarning LagDuration `yaml:"lagWarning" json:"lagWarning,omitzero"`
}

// Reviewers are requested on every PR into an environment.
type Reviewers = Principals

// Principals names GitHub users and teams ("org/team-slug").
type Principals struct {
	Users []string `yaml:"users" json:"users,omitempty"`
	Teams []string `yaml:"teams" json:"teams,omitempty"`
}

// Empty reports whether no user or team is named.
func (p Principals) Empty() bool { return len(p.Users) == 0 && len(p.Teams) == 0 }

// Ticket is the change-ticket policy of an environment.
type Ticket struct {
	Required bool   `yaml:"required" json:"required"`
	Pattern  string `yaml:"pattern" json:"pattern,omitempty"`
	URL      string `yaml:"url" json:"url,omitempty"` // template with .Ticket
}

// Window is an allow or deny window: a cron spec that opens it, a duration,
// a time zone. Exactly one of Allow and Deny is set.
type Window struct {
	Allow    string   `yaml:"allow" json:"allow,omitempty"`
	Deny     string   `yaml:"deny" json:"deny,omitempty"`
	Duration Duration `yaml:"duration" json:"duration"`
	Timezone string   `yaml:"timezone" json:"timezone,omitempty"`
}

// Duration is a time.Duration written as "2h", "30m".
type Duration struct{ time.Duration }

// Service is one deployable image and where its tag lives per environment.
type Service struct {
	Name   string  `yaml:"name" json:"name"`
	Repo   string  `yaml:"repo" json:"repo"` // GitOps repository, owner/name
	Image  string  `yaml:"image" json:"image"`
	Source *Source `yaml:"source" json:"source,omitempty"`
	// Targets maps an environment name to the files that hold the tag there.
	// In YAML a single target may be written without the list.
	Targets map[string]TargetList `yaml:"targets" json:"targets"`
	// Environments overrides environment settings for this service only.
	Environments map[string]EnvOverride `yaml:"environments" json:"environments,omitempty"`
	// TagPattern overrides defaults.tagPattern.
	TagPattern string `yaml:"tagPattern" json:"tagPattern,omitempty"`
}

// Source says what builds the service's image.
type Source struct {
	Repo       string `yaml:"repo" json:"repo"`
	Workflow   string `yaml:"workflow" json:"workflow,omitempty"` // workflow file path, e.g. .github/workflows/build.yml
	Branch     string `yaml:"branch" json:"branch,omitempty"`
	Tag        string `yaml:"tag" json:"tag,omitempty"`               // template: .SHA .ShortSHA .HeadBranch .RunNumber
	TagPattern string `yaml:"tagPattern" json:"tagPattern,omitempty"` // git tag pushes that count as builds
}

// TargetList is one or more targets of one environment.
type TargetList []Target

// Target is one file that holds a service's tag. Exactly one of Kustomize,
// Helm and Manifest is set.
type Target struct {
	Kustomize string `yaml:"kustomize" json:"kustomize,omitempty"` // directory or file
	Helm      string `yaml:"helm" json:"helm,omitempty"`           // values file
	Field     string `yaml:"field" json:"field,omitempty"`         // dotted path in the values file
	Manifest  string `yaml:"manifest" json:"manifest,omitempty"`   // workload file
	Container string `yaml:"container" json:"container,omitempty"` // container name in the manifest
	Digest    bool   `yaml:"digest" json:"digest,omitempty"`       // pin digests instead of tags
}

// EnvOverride holds per-service overrides; a nil field keeps the environment's value.
type EnvOverride struct {
	Auto         *bool       `yaml:"auto" json:"auto,omitempty"`
	Direct       *bool       `yaml:"direct" json:"direct,omitempty"`
	AutoMerge    *bool       `yaml:"autoMerge" json:"autoMerge,omitempty"`
	SplitTargets *bool       `yaml:"splitTargets" json:"splitTargets,omitempty"`
	Reviewers    *Principals `yaml:"reviewers" json:"reviewers,omitempty"`
	Promoters    *Principals `yaml:"promoters" json:"promoters,omitempty"`
	Ticket       *Ticket     `yaml:"ticket" json:"ticket,omitempty"`
	Soak         *Duration   `yaml:"soak" json:"soak,omitempty"`
	Windows      []Window    `yaml:"windows" json:"windows,omitempty"`
	Labels       []string    `yaml:"labels" json:"labels,omitempty"`
}

// Generator expands every directory matching a glob into a service.
type Generator struct {
	Repo        string           `yaml:"repo" json:"repo"`
	Directories string           `yaml:"directories" json:"directories"`
	Exclude     []string         `yaml:"exclude" json:"exclude,omitempty"`
	Service     GeneratorService `yaml:"service" json:"service"`
}

// GeneratorService is a Service whose string fields are templates over .Dir and .Path.
type GeneratorService struct {
	Name         string                 `yaml:"name" json:"name"`
	Image        string                 `yaml:"image" json:"image"`
	Source       *Source                `yaml:"source" json:"source,omitempty"`
	Targets      map[string]TargetList  `yaml:"targets" json:"targets"`
	Environments map[string]EnvOverride `yaml:"environments" json:"environments,omitempty"`
}

// EnvSettings is an environment's effective settings for one service:
// defaults, then the environment, then the service's override.
type EnvSettings struct {
	Name         string
	Index        int // position in the promotion order
	Auto         bool
	Direct       bool
	AutoMerge    bool
	SplitTargets bool
	Reviewers    Principals
	Promoters    Principals
	Ticket       Ticket
	Soak         time.Duration
	Windows      []Window
	Labels       []string // defaults.labels + environment labels + "env:<name>"
	BaseBranch   string
}

// ServiceEnv names one environment of one service.
type ServiceEnv struct {
	Service *Service
	Env     string
}

// BuildInfo is what a tag template can use.
type BuildInfo struct {
	SHA        string
	ShortSHA   string // first 7 characters
	HeadBranch string
	RunNumber  int64
}
