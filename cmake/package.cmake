# cmake/package.cmake: what `cmake --install` puts where, and the .deb built from it
# (scripts/package.sh: cpack -G DEB in a build configured with CMAKE_INSTALL_PREFIX=/usr).
include(GNUInstallDirs)

# The systemd units with this prefix's paths: the files in contrib/systemd/ name the .deb's
# (/usr/sbin/levee, /etc/levee/) and, for the rehearsal timer, /usr/local/bin/levee-load.
set(LV_SYSTEMD_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" CACHE PATH
    "Where the systemd units are installed")
foreach(unit levee.service levee-rehearsal.service levee-rehearsal.timer)
  set(src ${CMAKE_SOURCE_DIR}/contrib/systemd/${unit})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
  file(READ ${src} text)
  string(REPLACE "/usr/sbin/" "${CMAKE_INSTALL_FULL_SBINDIR}/" text "${text}")
  string(REPLACE "/usr/local/bin/" "${CMAKE_INSTALL_FULL_BINDIR}/" text "${text}")
  string(REPLACE "/etc/levee/" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/levee/" text "${text}")
  file(WRITE ${CMAKE_BINARY_DIR}/systemd/${unit} "${text}")
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit} DESTINATION ${LV_SYSTEMD_UNIT_DIR})
endforeach()

install(TARGETS levee RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
foreach(tool levee-sim levee-load)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
install(FILES docs/man/levee.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES docs/man/levee.yaml.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
# Configuration (conffiles in the .deb: an upgrade keeps the administrator's edits).
set(LV_CONFFILES ${CMAKE_INSTALL_FULL_SYSCONFDIR}/levee/levee.yaml
    ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d/levee)
install(FILES conf/levee.yaml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/levee)
install(FILES contrib/logrotate/levee DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d)
install(FILES README.md docs/ARCHITECTURE.md docs/config.md docs/metrics.md docs/faults.md
              docs/levee-sim.md docs/levee-load.md docs/score.md docs/packaging.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES contrib/rehearsals.cron DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# The .deb. Its maintainer scripts (contrib/debian/) enable and start levee.service as
# Debian's own packages do; Depends comes from dpkg-shlibdeps (package dpkg-dev).
string(REPLACE ";" "\n" conffiles "${LV_CONFFILES}")
file(WRITE ${CMAKE_BINARY_DIR}/debian/conffiles "${conffiles}\n")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME levee)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "HTTP/1.1 gateway that keeps a backend doing useful work under overload")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "levee is a reverse proxy (libuv, llhttp) with an overload guard: an adaptive concurrency\n"
    "limit per backend, a CoDel + LIFO queue, shedding by criticality, retry-storm detection,\n"
    "circuit breakers, polite refusals with Retry-After, and an RFC 9111 response cache.\n"
    "Includes levee-sim, a backend with a real capacity, and levee-load, a load generator\n"
    "that behaves like people, to rehearse peaks.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_CONTACT "levee maintainers <levee@example.org>")
set(CPACK_DEBIAN_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS logrotate)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/contrib/debian/postinst ${CMAKE_SOURCE_DIR}/contrib/debian/prerm
    ${CMAKE_SOURCE_DIR}/contrib/debian/postrm ${CMAKE_BINARY_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
include(CPack)
