package edit

import (
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// podSpecPath is where each workload kind keeps its pod spec.
var podSpecPath = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
}

// imageRepo limits what a repository already in the file may look like
// before it is written back; it also admits ${VAR} placeholders.
var imageRepo = regexp.MustCompile(`^[A-Za-z0-9$][A-Za-z0-9._/:${}-]{0,511}$`)

// image is one container's image scalar; flow tells whether it sits in a
// flow mapping, where plain scalars may not hold ':'.
type image struct {
	node *yaml.Node
	flow bool
}

// containers returns the images of every container or initContainer named
// name, in document order.
func containers(f *file, name string) ([]image, error) {
	var out []image
	for _, d := range f.docs {
		if d == nil || d.Kind != yaml.MappingNode {
			continue
		}
		_, kind := lookup(d, "kind")
		path, ok := podSpecPath[scalarValue(kind)]
		if !ok {
			continue
		}
		spec := d
		for _, seg := range path {
			_, spec = lookup(spec, seg)
		}
		if spec == nil || spec.Kind != yaml.MappingNode {
			continue
		}
		for _, field := range []string{"initContainers", "containers"} {
			_, list := lookup(spec, field)
			if list == nil || list.Kind != yaml.SequenceNode {
				continue
			}
			for _, c := range list.Content {
				if _, n := lookup(c, "name"); scalarValue(n) != name {
					continue
				}
				_, img := lookup(c, "image")
				if img == nil {
					return nil, fmt.Errorf("line %d: container %q has no image", c.Line, name)
				}
				if img.Kind != yaml.ScalarNode || scalarValue(img) == "" {
					return nil, fmt.Errorf("line %d: image of container %q is not a string", img.Line, name)
				}
				out = append(out, image{img, c.Style&yaml.FlowStyle != 0})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no container %q: %w", name, ErrNotFound)
	}
	return out, nil
}

// splitImage splits repo[:tag][@digest]; a colon before the last slash is a
// registry port, not a tag.
func splitImage(img string) (repo string, r Ref) {
	if i := strings.IndexByte(img, '@'); i >= 0 {
		img, r.Digest = img[:i], img[i+1:]
	}
	if i := strings.LastIndexByte(img, ':'); i > strings.LastIndexByte(img, '/') {
		img, r.Tag = img[:i], img[i+1:]
	}
	return img, r
}

func joinImage(repo string, r Ref) string {
	s := repo
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

func getManifest(f *file, s Spec) (Ref, error) {
	imgs, err := containers(f, s.Container)
	if err != nil {
		return Ref{}, err
	}
	_, r := splitImage(imgs[0].node.Value)
	if r == (Ref{}) {
		return Ref{}, fmt.Errorf("image of container %q has no tag or digest: %w", s.Container, ErrNotFound)
	}
	return r, nil
}

func setManifest(f *file, s Spec, r Ref) ([]splice, Ref, error) {
	imgs, err := containers(f, s.Container)
	if err != nil {
		return nil, Ref{}, err
	}
	var sp []splice
	for _, img := range imgs {
		repo, _ := splitImage(img.node.Value)
		if !imageRepo.MatchString(repo) {
			return nil, Ref{}, fmt.Errorf("line %d: unexpected image repository %q", img.node.Line, repo)
		}
		x, err := f.replaceScalar(img.node, joinImage(repo, r), img.flow)
		if err != nil {
			return nil, Ref{}, err
		}
		sp = append(sp, x)
	}
	return sp, r, nil
}
