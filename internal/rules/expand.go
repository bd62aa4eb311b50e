package rules

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/intent"
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

// expandDirs lists the directories g generates services for, sorted.
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
	return r.expandOver(ctx, repos, false)
}

// candidate is one generated service with where its errors point.
type candidate struct {
	svc    Service
	entry  svcEntry
	origin Origin
}

// expandOver expands r's generators over the directories repos lists.
// With guess, the directories are guesses made without the repository
// (ForNames, ForPaths): a directory whose service does not render, does not
// validate, or is named like an explicit service or an earlier guess is
// left out instead of failing the expansion. An explicit service always
// wins over a guess, and guessing never makes an error of its own.
func (r *Rules) expandOver(ctx context.Context, repos func(repo string) (fs.FS, error), guess bool) (*Rules, error) {
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
	var origins []Origin
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
			origins = append(origins, Origin{Generator: gi, Dir: d})
		}
	}
	if guess && len(origins) == 0 {
		return r, nil
	}

	newChecker := func() *checker {
		return &checker{file: r.c.file, vals: r.c.vals, keys: r.c.keys, bad: map[string]bool{}}
	}
	c := newChecker()
	var taken map[string]bool // guess: the names already in use
	if guess {
		taken = make(map[string]bool, len(r.Services)+len(origins))
		for i := range r.Services {
			taken[r.Services[i].Name] = true
		}
	}
	// Generated services go through the same validation as explicit ones,
	// with errors pointing at the generator and naming the directory.
	cands := make([]candidate, 0, len(origins))
	for _, o := range origins {
		g := &r.Generators[o.Generator]
		p := indexPath("generators", o.Generator)
		gc := c
		if guess {
			gc = newChecker() // a guess that does not render is dropped with its errors
		}
		gc.note = o.Dir + ": "
		s, ok := generate(gc, g, p, genData{Dir: path.Base(o.Dir), Path: o.Dir})
		gc.note = ""
		if !ok {
			continue
		}
		if guess {
			if !intent.ValidName(s.Name) || taken[s.Name] {
				continue
			}
			taken[s.Name] = true
		}
		cands = append(cands, candidate{svc: *s, entry: svcEntry{path: p + ".service", note: o.Dir + ": "}, origin: o})
	}
	out := r.withServices(c, cands)
	if len(c.errs) > 0 && guess {
		// A guess fails a check that only the whole set shows (an image or
		// a path this directory makes invalid, a branch name): keep the
		// guesses that validate on their own beside the explicit services.
		var kept []candidate
		for _, cd := range cands {
			tc := newChecker()
			if r.withServices(tc, []candidate{cd}); len(tc.errs) == 0 {
				kept = append(kept, cd)
			}
		}
		c = newChecker()
		if out = r.withServices(c, kept); len(c.errs) > 0 {
			return r, nil // the file's own services: a guess never fails
		}
	}
	if len(c.errs) > 0 {
		return nil, c.errs.sorted()
	}
	return out, nil
}

// withServices returns a copy of r with the generated services cands after
// its own, validated into c; the copy is usable only when c has no errors.
func (r *Rules) withServices(c *checker, cands []candidate) *Rules {
	out := *r
	out.Services = make([]Service, len(r.Services), len(r.Services)+len(cands))
	copy(out.Services, r.Services)
	entries := make([]svcEntry, len(r.Services), len(r.Services)+len(cands))
	for i := range r.Services {
		entries[i] = svcEntry{path: indexPath("services", i)}
	}
	made := make(map[string]Origin, len(cands))
	for _, cd := range cands {
		out.Services = append(out.Services, cd.svc)
		entries = append(entries, cd.entry)
		made[cd.svc.Name] = cd.origin
	}
	comp := validate(&out, c, entries)
	comp.digest, comp.file, comp.vals, comp.keys = r.c.digest, r.c.file, r.c.vals, r.c.keys
	comp.base = r
	comp.source = r.c.source
	comp.origins = made
	out.c = comp
	return &out
}

// Origin is where a generated service came from: the index of its
// generator in the file and the directory it was generated for.
type Origin struct {
	Generator int
	Dir       string
}

// Origin returns the generator and directory that produced the named
// service; ok is false for a service written in the file, or none.
func (r *Rules) Origin(name string) (o Origin, ok bool) {
	o, ok = r.cc().origins[name]
	return o, ok
}

// ForPaths returns r with its generators expanded over the directories that
// contain the given changed paths of repo: enough to tell which generated
// services a push touched, without listing the repository (the webhook has
// no repository access). Generators of other repositories expand to nothing.
//
// The directories are guesses (a removed file's directory may be gone): one
// whose service does not validate, or is named like an explicit service or
// another guess, is left out; an explicit service always wins. A guess never
// makes an error: the error is only a cancelled ctx or rules not loaded
// with Parse.
func (r *Rules) ForPaths(ctx context.Context, repo string, paths []string) (*Rules, error) {
	if len(r.Generators) == 0 {
		return r, nil
	}
	dirs := pathFS{}
	for _, p := range paths {
		for d := path.Dir(p); d != "." && d != "/" && d != ""; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	return r.expandOver(ctx, func(name string) (fs.FS, error) {
		if !strings.EqualFold(name, repo) {
			return pathFS{}, nil
		}
		return dirs, nil
	}, true)
}

// pathFS is a file system made only of the directories in the set: what a
// glob over directory names needs to see.
type pathFS map[string]bool

func (p pathFS) Open(name string) (fs.File, error) {
	if name == "." || p[name] {
		return &pathDir{name: name, fs: p}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (p pathFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." && !p[name] {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []fs.DirEntry
	for d := range p {
		parent := path.Dir(d)
		if parent == name {
			out = append(out, fs.FileInfoToDirEntry(dirInfo(path.Base(d))))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

type pathDir struct {
	name string
	fs   pathFS
}

func (d *pathDir) Stat() (fs.FileInfo, error) { return dirInfo(path.Base(d.name)), nil }
func (d *pathDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *pathDir) Close() error { return nil }

type dirInfo string

func (n dirInfo) Name() string     { return string(n) }
func (dirInfo) Size() int64        { return 0 }
func (dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (dirInfo) ModTime() time.Time { return time.Time{} }
func (dirInfo) IsDir() bool        { return true }
func (dirInfo) Sys() any           { return nil }

// ForNames returns r with its generators expanded over the directories a
// name could stand for, for a webhook that has only a name in hand: a build
// of repository acme/foo, or "/promote prod foo". It covers the usual
// generator, whose directories glob ends in a "*" segment (apps/*): the
// directory apps/<name> is assumed. Whether it exists is the worker's
// question (it expands against the repository itself); a service guessed
// here that the repository lacks is refused there.
//
// A guess never invalidates the rules: a name whose service would clash
// with an explicit service (or an earlier guess), or would not validate
// (an upper-case repository name, say), is not guessed, and the explicit
// service keeps the name. The error is only a cancelled ctx or rules not
// loaded with Parse.
func (r *Rules) ForNames(ctx context.Context, names []string) (*Rules, error) {
	if len(r.Generators) == 0 || len(names) == 0 {
		return r, nil
	}
	byRepo := map[string][]string{}
	for _, g := range r.Generators {
		parent, last := path.Split(g.Directories)
		if last != "*" || strings.ContainsAny(parent, "*?[\\") {
			continue
		}
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, "/\\*?[") || n == "." || n == ".." {
				continue
			}
			repo := strings.ToLower(g.Repo)
			byRepo[repo] = append(byRepo[repo], path.Join(parent, n, "x"))
		}
	}
	if len(byRepo) == 0 {
		return r, nil
	}
	return r.expandOver(ctx, func(name string) (fs.FS, error) {
		dirs := pathFS{}
		for _, p := range byRepo[strings.ToLower(name)] {
			for d := path.Dir(p); d != "." && d != "/" && d != ""; d = path.Dir(d) {
				dirs[d] = true
			}
		}
		return dirs, nil
	}, true)
}
