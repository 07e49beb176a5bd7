# Installation layout: binaries, systemd units, the Qubes firewall hook, default configs
# and docs. DESTDIR-aware (cmake --install honours the DESTDIR environment variable).
#
#   PREFIX/sbin/egressd, egressctl
#   PREFIX/lib/systemd/system/egressd.service, egressd-qubes.service
#   PREFIX/share/doc/egressd/...                 README, docs, example rules
#   PREFIX/share/man/man8/egressd.8, egressctl.8 manual pages (uncompressed)
#   PREFIX/share/man/man5/egressd.toml.5, egressd-rules.5
#   PREFIX/share/bash-completion/completions/egressctl
#   /etc/egressd/egressd.toml, qubes.toml        kept when they already exist
#   /etc/egressd/rules/                          empty rules folder of the plain unit
#   /etc/qubes/qubes-firewall.d/50-egressd       re-opens the port when qubes-firewall starts
#
# /etc stays /etc whatever the prefix: the units name /etc/egressd, and Qubes only looks
# for hooks in /etc/qubes. The units and the hook are written for /usr/sbin; for any
# other prefix the path is rewritten at install time, so they always start the binaries
# that were installed with them.
include(GNUInstallDirs)

set(EGRESSD_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
  "Folder of the systemd units, relative to the install prefix (or absolute)")
set(EGRESSD_SYSCONF_DIR "/etc" CACHE PATH
  "Folder for egressd/ (configs) and qubes/qubes-firewall.d/ (the hook)")

install(TARGETS egressd egressctl RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})

install(FILES README.md
  docs/architecture.md docs/configuration.md docs/control-protocol.md docs/egressctl.md
  docs/qubes.md docs/rules.md docs/framing.md docs/security.md docs/performance.md
  docs/tinyproxy-mode.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES packaging/config/rules-example/work.10.137.0.12
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/rules)
install(FILES packaging/config/egressd.toml packaging/config/qubes.toml
  packaging/qubes/qrexec/30-egress.policy
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# Manual pages and the bash completion (loaded on demand by bash-completion, by the
# command's name: hence no .bash suffix).
install(FILES packaging/man/egressd.8 packaging/man/egressctl.8
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man8
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES packaging/man/egressd.toml.5 packaging/man/egressd-rules.5
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man5
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES packaging/completion/egressctl.bash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
  RENAME egressctl
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# What install time needs from configure time; the rest is evaluated by cmake --install,
# where CMAKE_INSTALL_PREFIX is the final prefix (--prefix included).
install(CODE "
set(_egressd_src \"${CMAKE_CURRENT_SOURCE_DIR}\")
set(_egressd_stage \"${CMAKE_CURRENT_BINARY_DIR}/install-stage\")
set(_egressd_sbindir \"${CMAKE_INSTALL_SBINDIR}\")
set(_egressd_unitdir \"${EGRESSD_SYSTEMD_UNIT_DIR}\")
set(_egressd_sysconfdir \"${EGRESSD_SYSCONF_DIR}\")
")
install(CODE [[
if(IS_ABSOLUTE "${_egressd_sbindir}")
  set(_sbin "${_egressd_sbindir}")
else()
  set(_sbin "${CMAKE_INSTALL_PREFIX}/${_egressd_sbindir}")
endif()
if(IS_ABSOLUTE "${_egressd_unitdir}")
  set(_units "${_egressd_unitdir}")
else()
  set(_units "${CMAKE_INSTALL_PREFIX}/${_egressd_unitdir}")
endif()

# Units and hook, with /usr/sbin replaced by the real folder of the binaries.
file(MAKE_DIRECTORY "${_egressd_stage}")
foreach(_pair
    "packaging/systemd/egressd.service|${_units}|OWNER_READ;OWNER_WRITE;GROUP_READ;WORLD_READ"
    "packaging/qubes/egressd-qubes.service|${_units}|OWNER_READ;OWNER_WRITE;GROUP_READ;WORLD_READ"
    "packaging/qubes/egress-proxy.socket|${_units}|OWNER_READ;OWNER_WRITE;GROUP_READ;WORLD_READ"
    "packaging/qubes/egress-proxy@.service|${_units}|OWNER_READ;OWNER_WRITE;GROUP_READ;WORLD_READ"
    "packaging/qubes/qubes-firewall.d/50-egressd|${_egressd_sysconfdir}/qubes/qubes-firewall.d|OWNER_READ;OWNER_WRITE;OWNER_EXECUTE;GROUP_READ;GROUP_EXECUTE;WORLD_READ;WORLD_EXECUTE")
  string(REPLACE "|" ";" _parts "${_pair}")
  list(GET _parts 0 _from)
  list(GET _parts 1 _dest)
  list(SUBLIST _parts 2 -1 _perms)
  get_filename_component(_name "${_from}" NAME)
  file(READ "${_egressd_src}/${_from}" _text)
  string(REPLACE "/usr/sbin/" "${_sbin}/" _text "${_text}")
  file(WRITE "${_egressd_stage}/${_name}" "${_text}")
  file(INSTALL DESTINATION "${_dest}" TYPE FILE PERMISSIONS ${_perms}
    FILES "${_egressd_stage}/${_name}")
endforeach()

# Configs: a file the administrator already has (perhaps edited) is never overwritten.
foreach(_name egressd.toml qubes.toml)
  if(EXISTS "$ENV{DESTDIR}${_egressd_sysconfdir}/egressd/${_name}")
    message(STATUS "Keeping: $ENV{DESTDIR}${_egressd_sysconfdir}/egressd/${_name}")
  else()
    file(INSTALL DESTINATION "${_egressd_sysconfdir}/egressd" TYPE FILE
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
      FILES "${_egressd_src}/packaging/config/${_name}")
  endif()
endforeach()
# The plain unit's rules folder, empty: every client is refused until a file is added.
file(MAKE_DIRECTORY "$ENV{DESTDIR}${_egressd_sysconfdir}/egressd/rules")
# The qrexec service egress.Proxy of a proxy qube: the socket of qubes.toml's qrexec_socket.
file(MAKE_DIRECTORY "$ENV{DESTDIR}${_egressd_sysconfdir}/qubes-rpc")
file(CREATE_LINK "/run/egressd/qrexec.sock"
  "$ENV{DESTDIR}${_egressd_sysconfdir}/qubes-rpc/egress.Proxy" SYMBOLIC)
]])
