package cli

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/minicluster/mini/cluster"
	"github.com/minicluster/mini/control/client"
)

func init() { extraCommands = append(extraCommands, newCompletionCmd) }

// completionTimeout bounds what a completion asks Docker or the API.
const completionTimeout = 3 * time.Second

func newCompletionCmd(st streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script (commands, flags, cluster, node and object names)",
		Long: `Print the completion script for a shell. Besides commands and flags it
completes cluster names (mini cluster delete <TAB>, -c <TAB>), node names
(mini node delete <TAB>), kubeconfig contexts and the cluster's object names.

  bash:        source <(mini completion bash)            # in ~/.bashrc
               (needs the bash-completion package)
  zsh:         source <(mini completion zsh)             # in ~/.zshrc, after compinit
  fish:        mini completion fish > ~/.config/fish/completions/mini.fish
  powershell:  mini completion powershell | Out-String | Invoke-Expression`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(st.out, true)
			case "zsh":
				return root.GenZshCompletion(st.out)
			case "fish":
				return root.GenFishCompletion(st.out, true)
			default:
				return root.GenPowerShellCompletionWithDesc(st.out)
			}
		},
	}
	return cmd
}

// addCompletions wires name completion into the command tree: cluster
// names for the cluster commands and every --cluster flag, node names for
// node delete, host images for image load, contexts for every --context
// flag; commands without their own completion complete no file names.
func addCompletions(root *cobra.Command) {
	root.CompletionOptions.DisableDefaultCmd = true // newCompletionCmd replaces it
	byPath := map[string]cobra.CompletionFunc{
		"mini cluster delete":   completeClusters(0),
		"mini cluster stop":     completeClusters(1),
		"mini cluster start":    completeClusters(1),
		"mini kubeconfig get":   completeClusters(1),
		"mini kubeconfig merge": completeClusters(1),
		"mini node delete":      completeNodes,
		"mini image load":       completeHostImages,
		"mini get":              completeKindThenNames,
		"mini describe":         completeKindThenNames,
		"mini delete":           completeKindThenNames,
		"mini logs":             completeObjectNames("pods"),
		"mini exec":             completeObjectNames("pods"),
		"mini port-forward":     completeObjectNames("pods"),
	}
	flags := map[string]cobra.CompletionFunc{"cluster": completeClusters(0), "context": completeContexts,
		"namespace": completeObjectNames("namespaces")}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.ValidArgsFunction == nil && len(c.ValidArgs) == 0 {
			c.ValidArgsFunction = cobra.NoFileCompletions
			if f := byPath[c.CommandPath()]; f != nil {
				c.ValidArgsFunction = f
			}
		}
		for name, f := range flags {
			if c.Flags().Lookup(name) != nil {
				if _, ok := c.GetFlagCompletionFunc(name); !ok {
					c.RegisterFlagCompletionFunc(name, f)
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// listClusters lists the clusters for completion (a variable for tests).
var listClusters = func(ctx context.Context) ([]cluster.Info, error) {
	d, err := cluster.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return cluster.List(ctx, d)
}

// listImages lists the host's image tags for completion (a variable for
// tests).
var listImages = func(ctx context.Context) ([]string, error) {
	d, err := cluster.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return cluster.ImageTags(ctx, d)
}

// matching returns the candidates starting with prefix that are not in
// given, sorted.
func matching(cands []string, prefix string, given []string) []string {
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) && !slices.Contains(given, c) {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// completeClusters completes cluster names, for up to max arguments (0:
// any number; flags).
func completeClusters(max int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max > 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		infos, err := listClusters(ctx)
		if err != nil {
			return cobra.AppendActiveHelp(nil, "cannot list clusters: "+firstLine(err)), cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, i := range infos {
			names = append(names, i.Name)
		}
		return matching(names, toComplete, args), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeHostImages completes the tagged images of the host's Docker.
func completeHostImages(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	refs, err := listImages(ctx)
	if err != nil {
		return cobra.AppendActiveHelp(nil, "cannot list images: "+firstLine(err)), cobra.ShellCompDirectiveNoFileComp
	}
	return matching(refs, toComplete, args), cobra.ShellCompDirectiveNoFileComp
}

// completeNodes completes node container names of every cluster (or of
// --cluster's when the command has it).
func completeNodes(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	infos, err := listClusters(ctx)
	if err != nil {
		return cobra.AppendActiveHelp(nil, "cannot list nodes: "+firstLine(err)), cobra.ShellCompDirectiveNoFileComp
	}
	only := ""
	if f := cmd.Flags().Lookup("cluster"); f != nil {
		only = f.Value.String()
	}
	var names []string
	for _, i := range infos {
		if only != "" && i.Name != only {
			continue
		}
		for _, n := range i.Nodes {
			names = append(names, n.Name)
		}
	}
	return matching(names, toComplete, args), cobra.ShellCompDirectiveNoFileComp
}

// completeContexts completes the kubeconfig's context names.
func completeContexts(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f := cmd.Flags().Lookup("kubeconfig"); f != nil && f.Value.String() != "" {
		rules.ExplicitPath = f.Value.String()
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for name := range raw.Contexts {
		names = append(names, name)
	}
	return matching(names, toComplete, nil), cobra.ShellCompDirectiveNoFileComp
}

// shortNames are kubectl's short resource names.
var shortNames = map[string]string{
	"po": "pods", "svc": "services", "deploy": "deployments", "rs": "replicasets", "sts": "statefulsets",
	"ds": "daemonsets", "cm": "configmaps", "ns": "namespaces", "no": "nodes", "ep": "endpoints",
	"sa": "serviceaccounts", "ev": "events", "ing": "ingresses",
}

// findKind resolves a kind as kubectl spells it: Kind, resource (plural),
// singular or short name, case-insensitively.
func findKind(s string) (client.Info, bool) {
	s = strings.ToLower(s)
	if full, ok := shortNames[s]; ok {
		s = full
	}
	for _, i := range client.Kinds() {
		if s == strings.ToLower(i.Kind) || s == i.Resource {
			return i, true
		}
	}
	return client.Info{}, false
}

// completeObjectNames completes the names of objects of kind (Pod, pods,
// po, ...) in the cluster of the kubeconfig's context, in the namespace of
// cmd's --namespace flag (or the context's). Verbs use it as their
// ValidArgsFunction: `mini logs <TAB>` is completeObjectNames("pods").
func completeObjectNames(kind string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		names, err := objectNames(cmd, kind)
		if err != nil {
			return cobra.AppendActiveHelp(nil, firstLine(err)), cobra.ShellCompDirectiveNoFileComp
		}
		return matching(names, toComplete, args), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeKindThenNames completes `VERB KIND NAME...`: kinds first, then
// names of that kind (get, describe, delete).
func completeKindThenNames(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		var kinds []string
		for _, i := range client.Kinds() {
			kinds = append(kinds, i.Resource)
		}
		return matching(kinds, toComplete, nil), cobra.ShellCompDirectiveNoFileComp
	}
	return completeObjectNames(args[0])(cmd, args[1:], toComplete)
}

// objectNames lists the names of kind's objects.
func objectNames(cmd *cobra.Command, kind string) ([]string, error) {
	info, ok := findKind(kind)
	if !ok {
		return nil, fmt.Errorf("mini does not know the kind %q", kind)
	}
	c, ns, err := apiClient(cmd)
	if err != nil {
		return nil, err
	}
	if f := cmd.Flags().Lookup("namespace"); f != nil && f.Value.String() != "" {
		ns = f.Value.String()
	}
	if !info.Namespaced {
		ns = ""
	}
	list, _ := client.NewList(info.GVK())
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	if err := c.List(ctx, ns, list, client.ListOptions{}); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, it := range items {
		if m, err := meta.Accessor(it); err == nil {
			names = append(names, m.GetName())
		}
	}
	return names, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
