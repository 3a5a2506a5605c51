package api

import (
	"net/http"
	"runtime"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
)

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	v := s.cfg.Version
	major, minor := "1", "34"
	s.writeObject(w, r, http.StatusOK, version.Info{
		Major: major, Minor: minor, GitVersion: "v1.34.0-mini+" + strings.TrimPrefix(v, "v"),
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
		GitTreeState: "clean",
	})
}

func (s *Server) serveCoreVersions(w http.ResponseWriter, r *http.Request) {
	s.writeObject(w, r, http.StatusOK, &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
		},
	})
}

func (s *Server) apiGroup(group string) metav1.APIGroup {
	v := s.reg.InGroup(group)[0].Version
	gv := metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v}
	return metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             group,
		Versions:         []metav1.GroupVersionForDiscovery{gv},
		PreferredVersion: gv,
	}
}

func (s *Server) serveGroups(w http.ResponseWriter, r *http.Request) {
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range s.reg.Groups() {
		if g == "" {
			continue
		}
		list.Groups = append(list.Groups, s.apiGroup(g))
	}
	s.writeObject(w, r, http.StatusOK, list)
}

func (s *Server) serveGroup(w http.ResponseWriter, r *http.Request, group string) {
	if group == "" || len(s.reg.InGroup(group)) == 0 {
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{Group: group}, ""))
		return
	}
	g := s.apiGroup(group)
	s.writeObject(w, r, http.StatusOK, &g)
}

// verbs served on a resource's main endpoint.
var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request, group, version string) {
	rs := s.reg.InGroup(group)
	if len(rs) == 0 || rs[0].Version != version {
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{Group: group}, ""))
		return
	}
	gv := schema.GroupVersion{Group: group, Version: version}.String()
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
	for _, res := range rs {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.Name, SingularName: res.Singular, Namespaced: res.Namespaced, Kind: res.Kind,
			Verbs: allVerbs, ShortNames: res.ShortNames, Categories: res.Categories,
		})
		for _, sub := range res.Subresources {
			ar := metav1.APIResource{Name: res.Name + "/" + sub, Namespaced: res.Namespaced, Kind: res.Kind}
			switch sub {
			case "status":
				ar.Verbs = metav1.Verbs{"get", "patch", "update"}
			case "scale":
				ar.Group, ar.Version, ar.Kind = "autoscaling", "v1", "Scale"
				ar.Verbs = metav1.Verbs{"get", "patch", "update"}
			case "binding":
				ar.Kind, ar.Verbs = "Binding", metav1.Verbs{"create"}
			case "eviction":
				ar.Group, ar.Version, ar.Kind = "policy", "v1", "Eviction"
				ar.Verbs = metav1.Verbs{"create"}
			case "log":
				ar.Verbs = metav1.Verbs{"get"}
			case "exec", "attach", "portforward":
				ar.Kind = "PodExecOptions"
				if sub == "attach" {
					ar.Kind = "PodAttachOptions"
				} else if sub == "portforward" {
					ar.Kind = "PodPortForwardOptions"
				}
				ar.Verbs = metav1.Verbs{"create", "get"}
			case "finalize":
				ar.Verbs = metav1.Verbs{"update"}
			case "proxy":
				ar.Kind = res.Kind + "ProxyOptions"
				ar.Verbs = metav1.Verbs{"create", "delete", "get", "patch", "update"}
			}
			list.APIResources = append(list.APIResources, ar)
		}
	}
	s.writeObject(w, r, http.StatusOK, list)
}
