package rules

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
)

// generate renders g's service templates for one directory. Errors are
// reported at the generator's field paths.
func generate(c *checker, g *Generator, p string, data genData) (*Service, bool) {
	ok := true
	sp := p + ".service"
	tpl := func(field, text string) string {
		if text == "" {
			return ""
		}
		t, err := parseTemplate(field, text, "gen")
		if err != nil {
			c.add(field, "invalid template: %v", err)
			ok = false
			return ""
		}
		out, err := render(t, data)
		if err != nil {
			c.add(field, "template fails: %v", err)
			ok = false
			return ""
		}
		return out
	}
	gs := &g.Service
	s := &Service{
		Name:         tpl(sp+".name", gs.Name),
		Repo:         g.Repo,
		Image:        tpl(sp+".image", gs.Image),
		Environments: gs.Environments,
	}
	if gs.Source != nil {
		src := *gs.Source
		src.Repo = tpl(sp+".source.repo", src.Repo)
		src.Workflow = tpl(sp+".source.workflow", src.Workflow)
		src.Branch = tpl(sp+".source.branch", src.Branch)
		// Tag and TagPattern are build-time templates and regexes: kept as written.
		s.Source = &src
	}
	if gs.Targets != nil {
		s.Targets = make(map[string]TargetList, len(gs.Targets))
		for env, list := range gs.Targets {
			tp := keyPath(sp+".targets", env)
			out := make(TargetList, len(list))
			for i, t := range list {
				ip := indexPath(tp, i)
				out[i] = Target{
					Kustomize: tpl(ip+".kustomize", t.Kustomize),
					Helm:      tpl(ip+".helm", t.Helm),
					Field:     tpl(ip+".field", t.Field),
					Manifest:  tpl(ip+".manifest", t.Manifest),
					Container: tpl(ip+".container", t.Container),
					Digest:    t.Digest,
				}
			}
			s.Targets[env] = out
		}
	}
	return s, ok
}

// expand lists the directories g generates services for, sorted.
func expandDirs(ctx context.Context, fsys fs.FS, g *Generator) ([]string, error) {
	matches, err := fs.Glob(fsys, g.Directories)
	if err != nil {
		return nil, fmt.Errorf("glob %q: %w", g.Directories, err)
	}
	var dirs []string
	for _, m := range matches {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fi, err := fs.Stat(fsys, m)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", m, err)
		}
		if !fi.IsDir() || excluded(m, g.Exclude) {
			continue
		}
		dirs = append(dirs, m)
	}
	sort.Strings(dirs)
	return dirs, nil
}

func excluded(dir string, patterns []string) bool {
	for _, x := range patterns {
		if ok, _ := path.Match(x, dir); ok {
			return true
		}
	}
	return false
}

func (r *Rules) expand(ctx context.Context, repos func(repo string) (fs.FS, error)) (*Rules, error) {
	if r.c == nil {
		return nil, errors.New("expand: rules were not loaded with Parse")
	}
	if r.c.base != nil {
		// expand from the file's own services, never twice
		r = r.c.base
	}
	if len(r.Generators) == 0 {
		return r, nil
	}
	out := *r
	out.Services = append([]Service(nil), r.Services...)
	type origin struct {
		gen int
		dir string
	}
	var origins []origin
	for gi := range r.Generators {
		g := &r.Generators[gi]
		fsys, err := repos(g.Repo)
		if err != nil {
			return nil, fmt.Errorf("generator %d: list %s: %w", gi, g.Repo, err)
		}
		dirs, err := expandDirs(ctx, fsys, g)
		if err != nil {
			return nil, fmt.Errorf("generator %d: %w", gi, err)
		}
		for _, d := range dirs {
			origins = append(origins, origin{gi, d})
		}
	}

	c := &checker{file: r.c.file, vals: r.c.vals, keys: r.c.keys, bad: map[string]bool{}}
	entries := make([]svcEntry, len(r.Services), len(r.Services)+len(origins))
	for i := range r.Services {
		entries[i] = svcEntry{path: indexPath("services", i)}
	}
	// Generated services go through the same validation as explicit ones,
	// with errors pointing at the generator and naming the directory.
	for _, o := range origins {
		g := &r.Generators[o.gen]
		p := indexPath("generators", o.gen)
		c.note = o.dir + ": "
		s, ok := generate(c, g, p, genData{Dir: path.Base(o.dir), Path: o.dir})
		if !ok {
			continue
		}
		out.Services = append(out.Services, *s)
		entries = append(entries, svcEntry{path: p + ".service", note: c.note})
	}
	c.note = ""
	comp := validate(&out, c, entries)
	if len(c.errs) > 0 {
		return nil, c.errs.sorted()
	}
	comp.digest, comp.file, comp.vals, comp.keys = r.c.digest, r.c.file, r.c.vals, r.c.keys
	comp.base = r
	out.c = comp
	return &out, nil
}
