package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/mount"
	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/node/runtime"
)

// volume is where one pod volume lives on the node.
type volume struct {
	source   string // a path, or a Docker volume name when docker is set
	docker   bool
	readOnly bool // written by the kubelet (configMap, secret, ...): always mounted read-only
}

// file is one file of a kubelet-written volume.
type file struct {
	data []byte
	mode os.FileMode
}

// setupVolumes prepares every volume of a pod and (re)writes the contents
// of configMap, secret, downwardAPI and projected volumes.
func (w *worker) setupVolumes(ctx context.Context, pod *corev1.Pod, env *envContext) (map[string]volume, error) {
	out := make(map[string]volume, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		vol, err := w.setupVolume(ctx, pod, v, env)
		if err != nil {
			return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		out[v.Name] = vol
	}
	return out, nil
}

func (w *worker) setupVolume(ctx context.Context, pod *corev1.Pod, v corev1.Volume, env *envContext) (volume, error) {
	dir := func(kind string) string {
		return filepath.Join(w.k.podDir(pod.UID), "volumes", "kubernetes.io~"+kind, v.Name)
	}
	switch s := v.VolumeSource; {
	case s.EmptyDir != nil && s.EmptyDir.Medium == corev1.StorageMediumMemory:
		var size int64
		if s.EmptyDir.SizeLimit != nil {
			size = s.EmptyDir.SizeLimit.Value()
		}
		name, err := w.k.rt.TmpfsVolume(ctx, pod.UID, v.Name, size)
		return volume{source: name, docker: true}, err
	case s.EmptyDir != nil:
		p := dir("empty-dir")
		if err := os.MkdirAll(p, 0o777); err != nil {
			return volume{}, err
		}
		return volume{source: p}, os.Chmod(p, 0o777)
	case s.HostPath != nil:
		return volume{source: s.HostPath.Path}, checkHostPath(s.HostPath)
	}
	files, err := volumeFiles(ctx, pod, v.VolumeSource, env)
	if err != nil {
		return volume{}, err
	}
	kind := map[bool]string{true: "projected", false: "configmap"}[v.Projected != nil]
	switch {
	case v.Secret != nil:
		kind = "secret"
	case v.DownwardAPI != nil:
		kind = "downward-api"
	}
	p := dir(kind)
	return volume{source: p, readOnly: true}, writeAtomic(p, files)
}

// checkHostPath applies a hostPath volume's type: creating what the
// OrCreate types ask for, checking what the others require.
func checkHostPath(h *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if h.Type != nil {
		t = *h.Type
	}
	fi, err := os.Stat(h.Path)
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if errors.Is(err, fs.ErrNotExist) {
			return os.MkdirAll(h.Path, 0o755)
		}
	case corev1.HostPathFileOrCreate:
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("hostPath type check failed: %s is not a %s: %w", h.Path, t, err)
	}
	ok := map[corev1.HostPathType]bool{
		corev1.HostPathDirectoryOrCreate: fi.IsDir(), corev1.HostPathDirectory: fi.IsDir(),
		corev1.HostPathFileOrCreate: fi.Mode().IsRegular(), corev1.HostPathFile: fi.Mode().IsRegular(),
		corev1.HostPathSocket: fi.Mode()&fs.ModeSocket != 0, corev1.HostPathCharDev: fi.Mode()&fs.ModeCharDevice != 0,
		corev1.HostPathBlockDev: fi.Mode()&fs.ModeDevice != 0 && fi.Mode()&fs.ModeCharDevice == 0,
	}[t]
	if !ok {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", h.Path, t)
	}
	return nil
}

// volumeFiles computes the files of a configMap, secret, downwardAPI or
// projected volume.
func volumeFiles(ctx context.Context, pod *corev1.Pod, s corev1.VolumeSource, env *envContext) (map[string]file, error) {
	files := map[string]file{}
	switch {
	case s.ConfigMap != nil:
		return files, configMapFiles(ctx, env, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, mode(s.ConfigMap.DefaultMode), files)
	case s.Secret != nil:
		return files, secretFiles(ctx, env, s.Secret.SecretName, s.Secret.Items, s.Secret.Optional, mode(s.Secret.DefaultMode), files)
	case s.DownwardAPI != nil:
		return files, downwardFiles(pod, env, s.DownwardAPI.Items, mode(s.DownwardAPI.DefaultMode), files)
	case s.Projected != nil:
		def := mode(s.Projected.DefaultMode)
		for _, src := range s.Projected.Sources {
			var err error
			switch {
			case src.ConfigMap != nil:
				err = configMapFiles(ctx, env, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, def, files)
			case src.Secret != nil:
				err = secretFiles(ctx, env, src.Secret.Name, src.Secret.Items, src.Secret.Optional, def, files)
			case src.DownwardAPI != nil:
				err = downwardFiles(pod, env, src.DownwardAPI.Items, def, files)
			}
			// service account tokens and trust bundles: mini issues none
			if err != nil {
				return nil, err
			}
		}
		return files, nil
	}
	return nil, errors.New("this volume type is not supported by mini (emptyDir, hostPath, configMap, secret, downwardAPI and projected are)")
}

func mode(m *int32) os.FileMode {
	if m == nil {
		return 0o644
	}
	return os.FileMode(*m)
}

func keyFiles(data map[string][]byte, items []corev1.KeyToPath, def os.FileMode, files map[string]file, what string) error {
	if len(items) == 0 {
		for k, v := range data {
			files[k] = file{v, def}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("configuration for %s has no key %q", what, it.Key)
		}
		m := def
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		files[it.Path] = file{v, m}
	}
	return nil
}

func configMapFiles(ctx context.Context, env *envContext, name string, items []corev1.KeyToPath, opt *bool, def os.FileMode, files map[string]file) error {
	cm, err := env.objs.configMap(ctx, env.pod.Namespace, name)
	if err != nil {
		return orNil(err, optional(opt))
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles(data, items, def, files, "configmap "+name)
}

func secretFiles(ctx context.Context, env *envContext, name string, items []corev1.KeyToPath, opt *bool, def os.FileMode, files map[string]file) error {
	s, err := env.objs.secret(ctx, env.pod.Namespace, name)
	if err != nil {
		return orNil(err, optional(opt))
	}
	return keyFiles(s.Data, items, def, files, "secret "+name)
}

func downwardFiles(pod *corev1.Pod, env *envContext, items []corev1.DownwardAPIVolumeFile, def os.FileMode, files map[string]file) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(pod, it.FieldRef.FieldPath, env.podIP, env.nodeIP)
		case it.ResourceFieldRef != nil:
			v, err = env.resourceValue(it.ResourceFieldRef, nil)
		}
		if err != nil {
			return err
		}
		m := def
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		files[it.Path] = file{[]byte(v), m}
	}
	return nil
}

// writeAtomic makes dir hold exactly files, the way Kubernetes's atomic
// writer does: the files live in a timestamped directory that the symlink
// ..data points to, and each top-level name is a symlink through ..data, so
// a reader inside a container (the directory is bind-mounted) sees either
// the old set or the new one. Nothing is written when nothing changed.
func writeAtomic(dir string, files map[string]file) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if same(dir, files) {
		return nil
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	ts, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.")) // unique
	if err != nil {
		return err
	}
	os.Chmod(ts, 0o755)
	for name, f := range files {
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) || strings.Contains(name, "/../") {
			return fmt.Errorf("invalid file path %q", name)
		}
		p := filepath.Join(ts, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return err
		}
		os.Chmod(p, f.mode) // past the umask
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	if err := linkTop(dir, files); err != nil {
		return err
	}
	if old != "" && old != filepath.Base(ts) {
		os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// linkTop makes each top-level name of files a symlink through ..data and
// removes the names no longer there.
func linkTop(dir string, files map[string]file) error {
	top := map[string]bool{}
	for name := range files {
		top[strings.SplitN(name, "/", 2)[0]] = true
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); !strings.HasPrefix(n, "..") && !top[n] {
			os.Remove(filepath.Join(dir, n))
		}
	}
	for n := range top {
		link := filepath.Join(dir, n)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", n), link); err != nil {
			return err
		}
	}
	return nil
}

// same reports whether dir/..data holds exactly files.
func same(dir string, files map[string]file) bool {
	data := filepath.Join(dir, "..data")
	var have []string
	err := filepath.WalkDir(data+"/", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(data, p)
			have = append(have, rel)
		}
		return nil
	})
	if err != nil || len(have) != len(files) {
		return false
	}
	sort.Strings(have)
	for _, name := range have {
		f, ok := files[name]
		if !ok {
			return false
		}
		p := filepath.Join(data, name)
		cur, err := os.ReadFile(p)
		fi, err2 := os.Stat(p)
		if err != nil || err2 != nil || !bytes.Equal(cur, f.data) || fi.Mode().Perm() != f.mode.Perm() {
			return false
		}
	}
	return true
}

// containerMounts returns the mounts of a container: its volumeMounts
// (subPath resolved, created when missing in a writable volume) plus the
// pod's /etc/hosts, /etc/resolv.conf and the termination message file.
func (w *worker) containerMounts(pod *corev1.Pod, c *corev1.Container, vols map[string]volume, env []string, termFile string) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q refers to no volume of the pod", vm.Name)
		}
		m := runtime.Mount{Source: v.source, Volume: v.docker, ContainerPath: vm.MountPath, ReadOnly: vm.ReadOnly || v.readOnly}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expandAll([]string{vm.SubPathExpr}, env)[0]
		}
		if sub != "" {
			if v.docker || filepath.IsAbs(sub) || strings.HasPrefix(filepath.Clean(sub), "..") {
				return nil, fmt.Errorf("volumeMount %q: subPath %q cannot be used here", vm.Name, sub)
			}
			p, err := subPath(v, sub)
			if err != nil {
				return nil, fmt.Errorf("volumeMount %q: %w", vm.Name, err)
			}
			m.Source = p
		}
		if vm.MountPropagation != nil {
			switch *vm.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				m.Propagation = mount.PropagationRSlave
			case corev1.MountPropagationBidirectional:
				m.Propagation = mount.PropagationRShared
			}
		}
		out = append(out, m)
	}
	dir := w.k.podDir(pod.UID)
	out = append(out, runtime.Mount{Source: filepath.Join(dir, "etc-hosts"), ContainerPath: "/etc/hosts"})
	if _, err := os.Stat(filepath.Join(dir, "resolv.conf")); err == nil {
		out = append(out, runtime.Mount{Source: filepath.Join(dir, "resolv.conf"), ContainerPath: "/etc/resolv.conf"})
	}
	if c.TerminationMessagePath != "" && termFile != "" {
		out = append(out, runtime.Mount{Source: termFile, ContainerPath: c.TerminationMessagePath})
	}
	return out, nil
}

// subPath resolves a subPath inside a volume (following the atomic
// writer's symlinks, as Kubernetes binds the file itself), creating it as a
// directory in writable volumes when it is missing.
func subPath(v volume, sub string) (string, error) {
	p := filepath.Join(v.source, sub)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) && !v.readOnly {
		if err := os.MkdirAll(p, 0o777); err != nil {
			return "", err
		}
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", sub, err)
	}
	return real, nil
}
