#!/usr/bin/env bash
# Builds Vigie's Debian packages, vigie-connector_<version>_<arch>.deb and
# vigie_<version>_<arch>.deb, with dpkg-deb (no cargo tool needed).
#
#   packaging/build-debs.sh [--profile release|dev|PROFILE] [--out DIR] [--no-build] [--lintian]
#
#   --profile   the cargo profile of the programs (default: release, what people install)
#   --out       where the .deb files go (default: <target>/debian)
#   --no-build  package the programs already built in that profile, without running cargo
#               (CI packages the dev-profile programs `cargo test` built, not a second build)
#   --lintian   run lintian on the packages afterwards (when it is installed)
#
# Needs dpkg-deb, dpkg-shlibdeps (dpkg-dev) and strip (binutils). The target folder is
# CARGO_TARGET_DIR when set, else target/ beside Cargo.toml.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
profile=release
out=
build=1
lintian=0

usage() {
	sed -n '4,12p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while (($#)); do
	case "$1" in
	--profile) profile=${2:?--profile needs a value}; shift 2 ;;
	--out) out=${2:?--out needs a folder}; shift 2 ;;
	--no-build) build=0; shift ;;
	--lintian) lintian=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "build-debs: unknown argument $1" >&2; usage 2 >&2 ;;
	esac
done

for tool in dpkg-deb dpkg-shlibdeps strip; do
	if ! command -v "$tool" >/dev/null; then
		echo "build-debs: $tool is missing; install dpkg-dev and binutils (scripts/setup.sh does)" >&2
		exit 1
	fi
done

target=${CARGO_TARGET_DIR:-$root/target}
case "$profile" in
dev) bin_dir=$target/debug ;;
*) bin_dir=$target/$profile ;;
esac
out=${out:-$target/debian}
# xz for the packages people install; gzip for test builds, fifteen times faster.
compression=(-Zxz)
[[ $profile == release ]] || compression=(-Zgzip -z6)
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")
arch=$(dpkg --print-architecture)
# The packages' dates come from the last commit, so the same sources give the same files.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}

if ((build)); then
	echo "build-debs: cargo build --profile $profile (vigie, vigie-connector)"
	(cd "$root" && cargo build --locked --profile "$profile" -p vigie-client -p vigie-connector --bins)
fi
for program in vigie vigie-connector; do
	if [[ ! -x $bin_dir/$program ]]; then
		echo "build-debs: $bin_dir/$program is missing; build it or drop --no-build" >&2
		exit 1
	fi
done

# dpkg-shlibdeps reads debian/control and expects each package's files in debian/<package>.
work=$out/.staging
rm -rf "$work"
mkdir -p "$work/debian" "$out"
printf 'Source: vigie\n\nPackage: vigie\nArchitecture: any\n\nPackage: vigie-connector\nArchitecture: any\n' \
	>"$work/debian/control"

# put SRC DEST MODE: one file into the package being staged.
put() {
	install -D -m "$3" "$1" "$pkg_root/$2"
}

# The man page and documentation every package has.
put_docs() {
	local name=$1 doc=usr/share/doc/$1
	put "$here/copyright" "$doc/copyright" 0644
	printf '%s (%s) unstable; urgency=medium\n\n  * Vigie %s.\n\n -- %s  %s\n' \
		"$name" "$version" "$version" "Vigie maintainers <maintainers@vigie.invalid>" \
		"$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$work/changelog.gz"
	put "$work/changelog.gz" "$doc/changelog.gz" 0644
}

put_man() {
	local page=$1 section=$2
	mkdir -p "$pkg_root/usr/share/man/man$section"
	sed "s/@VERSION@/$version/" "$page" | gzip -9n >"$pkg_root/usr/share/man/man$section/$(basename "$page").gz"
}

put_program() {
	install -d "$pkg_root/usr/bin"
	strip --strip-unneeded -o "$pkg_root/usr/bin/$1" "$bin_dir/$1"
	chmod 0755 "$pkg_root/usr/bin/$1"
}

stage_connector() {
	pkg_root=$work/debian/vigie-connector
	put_program vigie-connector
	put "$here/connector/vigie-connector.service" lib/systemd/system/vigie-connector.service 0644
	put "$here/connector/60-vigie-connector.conf" usr/lib/sysctl.d/60-vigie-connector.conf 0644
	put "$here/connector/connector.toml" etc/vigie/connector.toml 0644
	install -d -m 0755 "$pkg_root/etc/vigie/tls" "$pkg_root/etc/vigie/trust/roots" \
		"$pkg_root/etc/vigie/trust/intermediates"
	put "$here/README.md" usr/share/doc/vigie-connector/README.md 0644
	put "$here/connector/example.toml" usr/share/doc/vigie-connector/examples/connector.toml 0644
	put "$here/../docs/admin-guide.md" usr/share/doc/vigie-connector/admin-guide.md 0644
	put "$here/../docs/security.md" usr/share/doc/vigie-connector/security.md 0644
	put_docs vigie-connector
	put_man "$here/connector/vigie-connector.8" 8
	for script in postinst prerm postrm; do
		put "$here/connector/$script" "DEBIAN/$script" 0755
	done
	printf '/etc/vigie/connector.toml\n' >"$pkg_root/DEBIAN/conffiles"
}

stage_client() {
	pkg_root=$work/debian/vigie
	put_program vigie
	put "$here/client/README.md" usr/share/doc/vigie/README.md 0644
	put "$here/../docs/user-guide.md" usr/share/doc/vigie/user-guide.md 0644
	put_docs vigie
	put_man "$here/client/vigie.1" 1
}

# assemble PACKAGE: control file, checksums, then the .deb.
assemble() {
	local name=$1 pkg_root=$work/debian/$1 shlibs size deb
	# (Its warning that the programs are not in their package's folder is wrong: they are.)
	shlibs=$(cd "$work" && dpkg-shlibdeps -O "debian/$name/usr/bin/"* 2> >(grep -v "should already be installed" >&2) |
		sed -n 's/^shlibs:Depends=//p')
	size=$(du -sk --exclude=DEBIAN "$pkg_root" | cut -f1)
	mkdir -p "$pkg_root/DEBIAN"
	sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SHLIBS@/$shlibs/" \
		-e "s/@INSTALLED_SIZE@/$size/" "$here/$2/control" >"$pkg_root/DEBIAN/control"
	(cd "$pkg_root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
		xargs -0 md5sum >DEBIAN/md5sums)
	deb=$out/${name}_${version}_${arch}.deb
	dpkg-deb --root-owner-group "${compression[@]}" --build "$pkg_root" "$deb" >/dev/null
	echo "build-debs: $deb (Depends: $(sed -n 's/^Depends: //p' "$pkg_root/DEBIAN/control"))"
}

stage_connector
stage_client
assemble vigie-connector connector
assemble vigie client
rm -rf "$work"

if ((lintian)); then
	if command -v lintian >/dev/null; then
		lintian --info "$out/vigie-connector_${version}_${arch}.deb" "$out/vigie_${version}_${arch}.deb"
	else
		echo "build-debs: lintian is not installed; skipped (apt-get install lintian)" >&2
	fi
fi
