# `cpack -G DEB`: one binary package, ecuup, that lintian accepts. Its files come from the install
# rules (cmake/EcuupInstall.cmake and the programs'); its /usr/share/doc/ecuup holds the DEP-5
# copyright file and the Debian changelog (packaging/debian/).

set(ECUUP_PACKAGE_MAINTAINER "ecuup developers <ecuup-dev@lists.ecuup.org>" CACHE STRING
    "The .deb's Maintainer field")
set(ECUUP_PACKAGE_HOMEPAGE "https://ecuup.org/" CACHE STRING "The .deb's Homepage field")
# The Debian revision: the package version is PROJECT_VERSION-ECUUP_PACKAGE_RELEASE, which must be
# the version of packaging/debian/changelog's top entry (test/e2e/package_deb.sh checks).
set(ECUUP_PACKAGE_RELEASE 1 CACHE STRING "The Debian revision of the .deb")

set(CPACK_PACKAGE_NAME ecuup)
set(CPACK_PACKAGE_VENDOR "ecuup developers")
set(CPACK_PACKAGE_CONTACT "${ECUUP_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "step-by-step updater for the software of vehicle ECUs")
# The extended description: lines of at most 80 characters; CPack indents them and turns the
# empty line into " .".
set(CPACK_PACKAGE_DESCRIPTION [=[
ecuup updates the software of a vehicle's electronic control units one
scriptable step at a time (inventory, report, fetch, flash, backup, status),
for shell scripts, CI hardware-in-the-loop jobs, engineers at a terminal and
timers on test benches. It never flashes an ECU it could not put back: a
failed flash restores the ECU's backup and verifies it. State passes between
the steps in a manifest written atomically under a lock; exit codes tell a
script whether an ECU was touched.

ECUs are reprogrammed with UDS (ISO 14229) over ISO-TP on CAN (SocketCAN) or
over DoIP, or through a bench's own tools. Updates come from a local
directory repository or from an Eclipse hawkBit server (DDI API), optionally
with signed release statements. The package also contains ecuup-sim
(simulated ECUs), ecuup-server (a small hawkBit-compatible update server),
ecuup-repo (publishes and signs releases), and a systemd timer for a nightly
update.]=])
string(STRIP "${CPACK_PACKAGE_DESCRIPTION}" CPACK_PACKAGE_DESCRIPTION)

set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${ECUUP_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${ECUUP_PACKAGE_HOMEPAGE}")
set(CPACK_DEBIAN_PACKAGE_RELEASE ${ECUUP_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the libraries the programs link (dpkg-shlibdeps), nothing listed by hand.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Binaries ship stripped (Debian policy 10.1); the debug info stays in the build tree.
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
include(CPack)
