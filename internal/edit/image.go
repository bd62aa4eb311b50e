package edit

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Image reports which image repository the file runs for s: a kustomize
// entry's newName (else its name), the repository part of a manifest
// container's image, or for Helm the "repository" field next to the tag
// field (else s.Image). Drift checks compare it across environments.
func Image(data []byte, s Spec) (string, error) {
	if err := checkSpec(s); err != nil {
		return "", err
	}
	f, err := parse(data)
	if err != nil {
		return "", err
	}
	return imageOf(f, s)
}

// GetImage is Get and Image over one parse of the file: the ref, and the
// image repository (empty when the ref cannot be read).
func GetImage(data []byte, s Spec) (Ref, string, error) {
	if err := checkSpec(s); err != nil {
		return Ref{}, "", err
	}
	f, err := parse(data)
	if err != nil {
		return Ref{}, "", err
	}
	r, err := get(f, s)
	if err != nil {
		return r, "", err
	}
	img, err := imageOf(f, s)
	if err != nil {
		return r, "", err
	}
	return r, img, nil
}

func imageOf(f *file, s Spec) (string, error) {
	switch s.Kind {
	case KindKustomize:
		root := kustomizeDoc(f)
		if root == nil {
			return "", fmt.Errorf("no kustomization mapping: %w", ErrNotFound)
		}
		_, list, err := imagesList(root)
		if err != nil {
			return "", err
		}
		e, err := findImage(list, s.Image)
		if err != nil {
			return "", err
		}
		if e == nil {
			return "", fmt.Errorf("no images entry for %q: %w", s.Image, ErrNotFound)
		}
		if _, n := lookup(e, "newName"); scalarValue(n) != "" {
			return scalarValue(n), nil
		}
		return s.Image, nil
	case KindManifest:
		imgs, err := containers(f, s.Container)
		if err != nil {
			return "", err
		}
		repo, _ := splitImage(imgs[0].node.Value)
		return repo, nil
	case KindHelm:
		root, err := helmRoot(f)
		if err != nil || root == nil {
			return s.Image, err
		}
		path := strings.Split(s.Field, ".")
		parent := append(path[:len(path)-1:len(path)-1], "repository")
		_, _, v, depth, err := walkField(root, parent)
		if err == nil && v != nil && depth == len(parent)-1 && v.Kind == yaml.ScalarNode && scalarValue(v) != "" {
			return v.Value, nil
		}
		return s.Image, nil
	}
	return "", fmt.Errorf("unknown edit kind %v", s.Kind)
}
