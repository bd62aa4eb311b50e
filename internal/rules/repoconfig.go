package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// DefaultRepoConfigPath is where a GitOps repository configures itself.
const DefaultRepoConfigPath = ".github/promobot.yaml"

// RepoConfig is a repository's own configuration: the rules file's
// version 1 schema without repo (the file's repository is implied) and
// without policy (the server's alone).
type RepoConfig struct {
	Version      int             `yaml:"version"`
	Defaults     Defaults        `yaml:"defaults"`
	Environments []Environment   `yaml:"environments"`
	Services     []RepoService   `yaml:"services"`
	Generators   []RepoGenerator `yaml:"generators"`
}

// RepoService is a Service without repo.
type RepoService struct {
	Name         string                 `yaml:"name"`
	Image        string                 `yaml:"image"`
	Source       *Source                `yaml:"source"`
	Targets      map[string]TargetList  `yaml:"targets"`
	Environments map[string]EnvOverride `yaml:"environments"`
	TagPattern   string                 `yaml:"tagPattern"`
}

// RepoGenerator is a Generator without repo.
type RepoGenerator struct {
	Directories string           `yaml:"directories"`
	Exclude     []string         `yaml:"exclude"`
	Service     GeneratorService `yaml:"service"`
}

// ConfigSource is where a repository configuration was read: every
// decision made with it can be traced to that commit.
type ConfigSource struct {
	Repo   string `json:"repo"`
	Path   string `json:"path"`
	Commit string `json:"commit,omitempty"`
	// BaseBranch is the base branch of a configuration that names none:
	// the branch it was read from ("": DefaultBaseBranch).
	BaseBranch string `json:"-"`
}

// ParseRepoConfig decodes and validates the configuration of repository
// src.Repo (read from src.Path at src.Commit) strictly, as Parse does a
// rules file, and merges it with policy (nil: none). Errors name src.Path,
// the line and the field; a setting that weakens the policy is an error at
// that setting. The result serves only src.Repo's services.
func ParseRepoConfig(src ConfigSource, data []byte, policy *Policy) (*Rules, error) {
	name := src.Path
	if name == "" {
		name = DefaultRepoConfigPath
	}
	if !validRepo(src.Repo) {
		return nil, Errors{{File: name, Line: 1, Column: 1, Msg: fmt.Sprintf("invalid repository %q: want owner/name", src.Repo)}}
	}
	if len(data) > MaxFileSize {
		return nil, Errors{{File: name, Line: 1, Column: 1, Msg: fmt.Sprintf("configuration is larger than %d bytes", MaxFileSize)}}
	}
	d := &decoder{file: name, vals: map[string]pos{}, keys: map[string]pos{}}
	root := d.parseNode(data)
	if root == nil {
		return nil, d.errs.sorted()
	}
	if root.Kind != yaml.MappingNode {
		d.errAt(root, "", "the configuration must be a mapping with version, environments and services")
		return nil, d.errs.sorted()
	}
	var rc RepoConfig
	d.decode(root, reflect.ValueOf(&rc).Elem(), "")
	for i, e := range d.errs {
		d.errs[i].Msg = repoFieldHint(e, src.Repo)
	}
	r := rc.rules(src.Repo)
	r.Policy = policy
	bad := make(map[string]bool, len(d.errs))
	for _, e := range d.errs {
		bad[e.Field] = true
	}
	c := &checker{file: name, vals: d.vals, keys: d.keys, bad: bad, errs: d.errs}
	if r.Defaults.BaseBranch == "" {
		r.Defaults.BaseBranch = src.BaseBranch
	}
	applyDefaults(r, c)
	comp := validate(r, c, nil)
	if len(c.errs) > 0 {
		return nil, c.errs.sorted()
	}
	sum := sha256.Sum256(data)
	comp.digest = hex.EncodeToString(sum[:])
	comp.file, comp.vals, comp.keys = name, d.vals, d.keys
	comp.source = &ConfigSource{Repo: src.Repo, Path: name, Commit: src.Commit, BaseBranch: r.Defaults.BaseBranch}
	r.c = comp
	return r, nil
}

// repoFieldHint rewords the decoder's "unknown field" for the two fields a
// rules file has and a repository configuration must not.
func repoFieldHint(e FieldError, repo string) string {
	switch {
	case e.Msg == `unknown field "repo"` && (strings.HasPrefix(e.Field, "services[") || strings.HasPrefix(e.Field, "generators[")) && strings.Count(e.Field, ".") == 1:
		return fmt.Sprintf("repo is implied: this file configures %s; remove it", repo)
	case e.Field == "policy":
		return "policy belongs in the server's rules file, not in a repository"
	}
	return e.Msg
}

// rules is the configuration as a rules value for repo.
func (rc *RepoConfig) rules(repo string) *Rules {
	r := &Rules{Version: rc.Version, Defaults: rc.Defaults, Environments: rc.Environments}
	if rc.Services != nil {
		r.Services = make([]Service, len(rc.Services))
	}
	for i, s := range rc.Services {
		r.Services[i] = Service{Name: s.Name, Repo: repo, Image: s.Image, Source: s.Source, Targets: s.Targets, Environments: s.Environments, TagPattern: s.TagPattern}
	}
	for _, g := range rc.Generators {
		r.Generators = append(r.Generators, Generator{Repo: repo, Directories: g.Directories, Exclude: g.Exclude, Service: g.Service})
	}
	return r
}

// ConfigSource returns where a repository configuration was read; ok is
// false for the server's rules file.
func (r *Rules) ConfigSource() (ConfigSource, bool) {
	s := r.cc().source
	if s == nil {
		return ConfigSource{}, false
	}
	return *s, true
}
