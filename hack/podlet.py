#!/usr/bin/python3
"""podlet: the part of a kubelet that turns a Pod spec into something
`podman kube play` runs the same way, for the e2e tier and `make demo`.

Input is the Kubernetes objects of one relay as JSON (a v1 List: from
`chatmail-operator render --with-secrets -o json`, or from
`kubectl get ... -o json` of what the operator applied). Output is a Pod
for `podman kube play` plus the volumes, laid out as a kubelet does:

  configMap, secret   files in kubelet's atomic-writer layout
                      (..<time>/, ..data -> ..<time>, key -> ..data/key),
                      defaultMode/items honoured, group = fsGroup; an
                      update swaps ..data atomically as kubelet's sync does
  emptyDir            a fresh directory per Pod start, 02777 with fsGroup
  persistentVolumeClaim, volumeClaimTemplates
                      a directory per claim (<template>-<pod>) under
                      --pvc-dir that outlives the Pod; fsGroup applied
                      on first use (fsGroupChangePolicy OnRootMismatch)
  subPath             resolved to the file itself at start, as kubelet
                      bind-mounts it (and, like kubelet, never updated);
                      a missing one is created as a directory

Podman runs all of it as hostPath bind mounts. What podman does not do
the kubelet way is translated: fsGroup becomes a supplemental group,
hostNetwork is set (the caller runs podman inside the relay's network
namespace), the Pod's sysctls (of its network namespace) are dropped
from the spec and written to <out>/sysctls.json for the caller to set
in that namespace before the Pod starts, probes are dropped from the
spec and written to <out>/probes.json for the caller to run, /etc/resolv.conf comes from
--resolv (the cluster DNS), and --ca-bundle replaces the CA bundle (a
test's private CA, as a cluster would distribute it).

Capabilities are granted as containerd and CRI-O do, not as podman
does: a container that runs as root gets capabilities.add in its
bounding, permitted and effective sets (podman does the same); one that
runs as another user gets them in the bounding set only, so after its
exec they are not effective. Podman would put them in the ambient set
and make them effective, so podlet removes them (a non-root process
gets no capabilities on a cluster). The user is the container's
runAsUser, else the Pod's, else the image's USER (podman image
inspect). runAsNonRoot with a root user refuses the Pod, as kubelet
does.

  podlet.py pod OBJECTS --out DIR --pvc-dir DIR [--statefulset NAME]
                [--pod-name NAME] [--resolv FILE] [--ca-bundle FILE]
  podlet.py job OBJECTS --cronjob NAME --out DIR --pvc-dir DIR
                [--pod-name NAME] [--resolv FILE]
  podlet.py sync OBJECTS --out DIR     rewrite configMap/secret volumes
                                       whose content changed (prints them)

Input is trusted (our own renderer or our own apiserver); sizes are not
bounded beyond what the apiserver allows.
"""

import argparse
import base64
import copy
import json
import os
import shutil
import subprocess
import sys
import time

ATOMIC_DATA = "..data"


def load_objects(path):
    """The objects of a v1 List (or a single object) from a JSON file."""
    with open(path) as f:
        doc = json.load(f)
    if doc.get("kind", "").endswith("List"):
        return doc.get("items", [])
    return [doc]


def find(objs, kind, name=None):
    """The object of KIND (named NAME, or the only one)."""
    hits = [o for o in objs if o.get("kind") == kind and
            (name is None or o["metadata"]["name"] == name)]
    if len(hits) != 1:
        sys.exit("podlet: want one %s%s, found %d" %
                 (kind, " " + name if name else "", len(hits)))
    return hits[0]


def by_name(objs, kind):
    return {o["metadata"]["name"]: o for o in objs if o.get("kind") == kind}


def volume_files(vol, objs):
    """{relative path: (bytes, mode)} of a configMap or secret volume."""
    if "configMap" in vol:
        src = vol["configMap"]
        obj = by_name(objs, "ConfigMap").get(src["name"])
        data = {}
        if obj:
            for k, v in (obj.get("data") or {}).items():
                data[k] = v.encode()
            for k, v in (obj.get("binaryData") or {}).items():
                data[k] = base64.b64decode(v)
    else:
        src = vol["secret"]
        obj = by_name(objs, "Secret").get(src["secretName"])
        data = {k: base64.b64decode(v)
                for k, v in ((obj or {}).get("data") or {}).items()}
        for k, v in ((obj or {}).get("stringData") or {}).items():
            data[k] = v.encode()
    if obj is None and not src.get("optional"):
        sys.exit("podlet: volume %s: %s missing" % (vol["name"], src))
    mode = src.get("defaultMode", 0o644)
    files = {}
    if src.get("items"):
        for it in src["items"]:
            if it["key"] not in data:
                sys.exit("podlet: volume %s: no key %s" %
                         (vol["name"], it["key"]))
            files[it["path"]] = (data[it["key"]], it.get("mode", mode))
    else:
        for k, v in data.items():
            files[k] = (v, mode)
    return files


def chgrp_mode(path, gid, mode):
    if gid is not None:
        os.chown(path, 0, gid, follow_symlinks=False)
    os.chmod(path, mode)


def atomic_write(root, files, gid):
    """Write FILES under ROOT as kubelet's AtomicWriter does; returns
    True when the content changed."""
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755 if gid is None else 0o2755)
    cur = os.path.join(root, ATOMIC_DATA)
    if os.path.islink(cur) and read_tree(cur) == files:
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + \
        "%09d" % (time.time_ns() % 1000000000)
    new = os.path.join(root, stamp)
    os.makedirs(new)
    for rel, (data, mode) in files.items():
        p = os.path.join(new, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        chgrp_mode(p, gid, mode)
    for d, _, _ in os.walk(new):
        chgrp_mode(d, gid, 0o755 if gid is None else 0o2755)
    old = os.readlink(cur) if os.path.islink(cur) else None
    tmp = os.path.join(root, "..data_tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(stamp, tmp)
    os.rename(tmp, cur)
    tops = {rel.split("/")[0] for rel in files}
    for name in os.listdir(root):
        if name.startswith(".."):
            continue
        if name not in tops:
            os.unlink(os.path.join(root, name))
    for t in tops:
        link = os.path.join(root, t)
        if not os.path.lexists(link):
            os.symlink(os.path.join(ATOMIC_DATA, t), link)
    if old and old != stamp:
        shutil.rmtree(os.path.join(root, old), ignore_errors=True)
    return True


def read_tree(root):
    """{relative path: (bytes, mode)} of the files under ROOT."""
    out = {}
    for d, _, names in os.walk(root, followlinks=True):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = (
                    f.read(), os.stat(p).st_mode & 0o7777)
    return out


def own_tree(root, gid):
    """fsGroup on a persistent volume, OnRootMismatch: only when the
    root does not carry the group and setgid yet."""
    st = os.stat(root)
    if gid is None or (st.st_gid == gid and st.st_mode & 0o2000):
        return
    for d, dirs, names in os.walk(root):
        for n in dirs + names:
            p = os.path.join(d, n)
            if os.path.islink(p):
                continue
            s = os.stat(p)
            os.chown(p, -1, gid)
            extra = 0o2070 if os.path.isdir(p) else 0o060
            os.chmod(p, (s.st_mode & 0o7777) | extra)
    os.chown(root, -1, gid)
    os.chmod(root, (st.st_mode & 0o7777) | 0o2070)


def empty_dir(path, gid):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    os.chmod(path, 0o777)
    if gid is not None:
        os.chown(path, 0, gid)
        os.chmod(path, 0o2777)


def host_volumes(spec, claims, objs, args, gid, fresh):
    """Replace every volume of SPEC by a hostPath; returns {name: path}."""
    paths = {}
    vols = []
    for v in spec.get("volumes", []) + claims:
        name = v["name"]
        if "configMap" in v or "secret" in v:
            p = os.path.join(args.out, "volumes", name)
            atomic_write(p, volume_files(v, objs), gid)
        elif "emptyDir" in v:
            p = os.path.join(args.out, "volumes", name)
            if fresh or not os.path.isdir(p):
                empty_dir(p, gid)
        elif "persistentVolumeClaim" in v:
            p = os.path.join(args.pvc_dir,
                             v["persistentVolumeClaim"]["claimName"])
            os.makedirs(p, exist_ok=True)
            own_tree(p, gid)
        elif "hostPath" in v:
            p = v["hostPath"]["path"]
        else:
            sys.exit("podlet: volume %s: unsupported type" % name)
        paths[name] = p
        vols.append({"name": name,
                     "hostPath": {"path": os.path.abspath(p),
                                  "type": "Directory"}})
    spec["volumes"] = vols
    return paths


def add_file_volume(spec, name, path):
    spec["volumes"].append({"name": name, "hostPath": {
        "path": os.path.abspath(path), "type": "File"}})


def translate_mounts(spec, paths, args):
    """subPath mounts become mounts of the resolved file; the cluster's
    resolv.conf and CA bundle are added to every container."""
    probes = {}
    n = 0
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        mounts = []
        for m in c.get("volumeMounts", []):
            if m.get("subPath"):
                n += 1
                real = os.path.realpath(os.path.join(paths[m["name"]],
                                                     m["subPath"]))
                if not os.path.exists(real):
                    # kubelet creates a missing subPath directory
                    os.makedirs(real)
                vname = "subpath-%d" % n
                spec["volumes"].append({"name": vname, "hostPath": {
                    "path": real,
                    "type": "File" if os.path.isfile(real) else "Directory"}})
                m = dict(m, name=vname)
                del m["subPath"]
            mounts.append(m)
        if args.resolv:
            mounts.append({"name": "podlet-resolv",
                           "mountPath": "/etc/resolv.conf", "readOnly": True})
        if getattr(args, "ca_bundle", None):
            mounts.append({"name": "podlet-ca",
                           "mountPath": "/etc/ssl/certs/ca-certificates.crt",
                           "readOnly": True})
        c["volumeMounts"] = mounts
        c["imagePullPolicy"] = "Never"
        # podman maps containerPorts to host ports, which host networking
        # refuses; in a Pod they are documentation anyway
        c.pop("ports", None)
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            if kind in c:
                probes.setdefault(c["name"], {})[kind] = c.pop(kind)
    if args.resolv:
        add_file_volume(spec, "podlet-resolv", args.resolv)
    if getattr(args, "ca_bundle", None):
        add_file_volume(spec, "podlet-ca", args.ca_bundle)
    return probes


def image_user(image):
    """The numeric uid of IMAGE's USER (0 when unset or unknown)."""
    try:
        out = subprocess.run(
            ["podman", "image", "inspect", "--format", "{{.Config.User}}",
             image], capture_output=True, text=True, timeout=30,
            check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 0
    user = out.split(":")[0]
    return int(user) if user.isdigit() else (0 if user in ("", "root")
                                             else -1)


def kubelet_caps(spec):
    """Capabilities and users as a kubelet with containerd grants them
    (see the header); prints what it took away."""
    psc = spec.get("securityContext") or {}
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        sc = c.get("securityContext") or {}
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if uid is None:
            uid = image_user(c["image"])
        nonroot = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if nonroot and uid == 0:
            sys.exit("podlet: container %s: runAsNonRoot, but it would "
                     "run as root (kubelet: CreateContainerConfigError)"
                     % c["name"])
        add = (sc.get("capabilities") or {}).get("add")
        if uid != 0 and add:
            print("podlet: container %s runs as uid %s: capabilities %s "
                  "stay in the bounding set only (not effective)" %
                  (c["name"], uid, ",".join(add)), file=sys.stderr)
            del sc["capabilities"]["add"]


def pod_from(spec_src, meta, name, claims, objs, args, restart=None):
    """A Pod for podman kube play from a Pod template."""
    spec = copy.deepcopy(spec_src)
    sc = spec.setdefault("securityContext", {})
    gid = sc.pop("fsGroup", None)
    sc.pop("fsGroupChangePolicy", None)
    sysctls = {x["name"]: x["value"] for x in sc.pop("sysctls", [])}
    if gid is not None:
        groups = sc.setdefault("supplementalGroups", [])
        if gid not in groups:
            groups.append(gid)
    spec["hostNetwork"] = True
    for k in ("dnsPolicy", "dnsConfig", "affinity", "nodeSelector",
              "tolerations", "serviceAccountName"):
        spec.pop(k, None)
    if restart:
        spec["restartPolicy"] = restart
    kubelet_caps(spec)
    paths = host_volumes(spec, claims, objs, args, gid, fresh=True)
    probes = translate_mounts(spec, paths, args)
    os.makedirs(args.out, exist_ok=True)
    pod = {"apiVersion": "v1", "kind": "Pod",
           # podman 4.3 holds annotation values to the 63 bytes of a
           # label value: a config hash does not fit, so none are kept
           "metadata": {"name": name,
                        "labels": dict(meta.get("labels") or {})},
           "spec": spec}
    with open(os.path.join(args.out, "pod.json"), "w") as f:
        json.dump(pod, f, indent=1)
    with open(os.path.join(args.out, "probes.json"), "w") as f:
        json.dump(probes, f, indent=1)
    with open(os.path.join(args.out, "sysctls.json"), "w") as f:
        json.dump(sysctls, f, indent=1)
    with open(os.path.join(args.out, "volumes.json"), "w") as f:
        json.dump({"fsGroup": gid, "volumes": paths}, f, indent=1)
    print(os.path.join(args.out, "pod.json"))


def cmd_pod(args):
    objs = load_objects(args.objects)
    sts = find(objs, "StatefulSet", args.statefulset)
    sname = sts["metadata"]["name"]
    name = args.pod_name or sname + "-0"
    ordinal_pod = sname + "-0"
    claims = [{"name": t["metadata"]["name"], "persistentVolumeClaim": {
        "claimName": "%s-%s" % (t["metadata"]["name"], ordinal_pod)}}
        for t in sts["spec"].get("volumeClaimTemplates", [])]
    tmpl = sts["spec"]["template"]
    pod_from(tmpl["spec"], tmpl.get("metadata", {}), name, claims, objs,
             args)


def cmd_job(args):
    objs = load_objects(args.objects)
    cj = find(objs, "CronJob", args.cronjob)
    tmpl = cj["spec"]["jobTemplate"]["spec"]["template"]
    name = args.pod_name or cj["metadata"]["name"] + "-manual"
    pod_from(tmpl["spec"], tmpl.get("metadata", {}), name, [], objs, args,
             restart="Never")


def cmd_sync(args):
    """kubelet's periodic sync of configMap and secret volumes."""
    objs = load_objects(args.objects)
    with open(os.path.join(args.out, "volumes.json")) as f:
        state = json.load(f)
    gid, paths = state["fsGroup"], state["volumes"]
    sts = [o for o in objs if o.get("kind") == "StatefulSet"]
    if not sts:
        sys.exit("podlet: sync needs the StatefulSet")
    for v in sts[0]["spec"]["template"]["spec"].get("volumes", []):
        if ("configMap" in v or "secret" in v) and v["name"] in paths:
            if atomic_write(paths[v["name"]], volume_files(v, objs), gid):
                print(v["name"])


def main():
    ap = argparse.ArgumentParser(prog="podlet")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for c in ("pod", "job", "sync"):
        p = sub.add_parser(c)
        p.add_argument("objects")
        p.add_argument("--out", required=True)
        if c != "sync":
            p.add_argument("--pvc-dir", required=True)
            p.add_argument("--pod-name")
            p.add_argument("--resolv")
            p.add_argument("--ca-bundle")
    sub.choices["pod"].add_argument("--statefulset")
    sub.choices["job"].add_argument("--cronjob", required=True)
    args = ap.parse_args()
    {"pod": cmd_pod, "job": cmd_job, "sync": cmd_sync}[args.cmd](args)


if __name__ == "__main__":
    main()
