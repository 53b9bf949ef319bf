# What `cmake --install` and `cpack -G DEB` put in place besides the programs: man pages, shell
# completions, the systemd units, the examples and the package's documentation. Included from the
# top-level CMakeLists.txt after the programs' targets exist.

set(ecuup_file_permissions OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
set(ecuup_program_permissions ${ecuup_file_permissions} OWNER_EXECUTE GROUP_EXECUTE WORLD_EXECUTE)
set(ecuup_docdir ${CMAKE_INSTALL_DATADIR}/doc/ecuup)

# Man pages and the Debian changelog are installed gzip -9n compressed, as Debian policy (12.1,
# 12.7) asks and man(1) reads everywhere; -n keeps the package reproducible. They are made by
# ecuup_docs, which every installed program depends on: a build of just the programs (as
# scripts/demo does) installs as well as a full one.
find_program(ECUUP_GZIP gzip REQUIRED)
# ecuup_gzip(SOURCE OUTPUT): OUTPUT is SOURCE, gzip -9n compressed; appended to ecuup_gzipped.
function(ecuup_gzip source output)
  get_filename_component(dir ${output} DIRECTORY)
  add_custom_command(OUTPUT ${output}
                     COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
                     COMMAND ${ECUUP_GZIP} -9nc ${source} > ${output}
                     DEPENDS ${source} VERBATIM)
  set(ecuup_gzipped ${ecuup_gzipped} ${output} PARENT_SCOPE)
endfunction()

set(ecuup_gzipped)
foreach(section 1 5 7)
  file(GLOB pages CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/*.${section})
  set(section_pages)
  foreach(page ${pages})
    get_filename_component(name ${page} NAME)
    ecuup_gzip(${page} ${PROJECT_BINARY_DIR}/man/${name}.gz)
    list(APPEND section_pages ${PROJECT_BINARY_DIR}/man/${name}.gz)
  endforeach()
  install(FILES ${section_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section}
          PERMISSIONS ${ecuup_file_permissions})
endforeach()
ecuup_gzip(${PROJECT_SOURCE_DIR}/packaging/debian/changelog ${PROJECT_BINARY_DIR}/doc/changelog.Debian.gz)
add_custom_target(ecuup_docs ALL DEPENDS ${ecuup_gzipped})
set(ecuup_programs ecuup ecuup-server ecuup-sim ecuup-repo)
foreach(program ${ecuup_programs})
  if(TARGET ${program})
    add_dependencies(${program} ecuup_docs)
  endif()
endforeach()

foreach(program ${ecuup_programs})
  install(FILES completions/${program}.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          RENAME ${program} PERMISSIONS ${ecuup_file_permissions})
  install(FILES completions/_${program} DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions
          PERMISSIONS ${ecuup_file_permissions})
  install(FILES completions/${program}.fish DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d
          PERMISSIONS ${ecuup_file_permissions})
endforeach()

# /usr/share/doc/ecuup: the DEP-5 copyright file, the Debian changelog, the README and the
# examples (the units' template stays out: the units themselves are installed below).
install(FILES packaging/debian/copyright README.md DESTINATION ${ecuup_docdir}
        PERMISSIONS ${ecuup_file_permissions})
install(FILES ${PROJECT_BINARY_DIR}/doc/changelog.Debian.gz DESTINATION ${ecuup_docdir}
        PERMISSIONS ${ecuup_file_permissions})
# The one lintian tag with no fix (the file says why).
install(FILES packaging/debian/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
        RENAME ecuup PERMISSIONS ${ecuup_file_permissions})
# The JSON Schemas of every --json output (ecuup-json(7)).
install(DIRECTORY man/json/ DESTINATION ${ecuup_docdir}/json FILE_PERMISSIONS ${ecuup_file_permissions}
        FILES_MATCHING PATTERN "*.schema.json")
install(DIRECTORY examples/ DESTINATION ${ecuup_docdir}/examples
        FILE_PERMISSIONS ${ecuup_file_permissions}
        PATTERN "*.in" EXCLUDE
        PATTERN "*.sh" PERMISSIONS ${ecuup_program_permissions}
        PATTERN "body-tool" PERMISSIONS ${ecuup_program_permissions})

# The systemd units go where systemd looks for a package's units: lib/systemd/system under the
# prefix (/usr/lib/systemd/system for the .deb, /usr/local/lib/systemd/system for the README's
# install). The service names ecuup where this install puts it, so it is configured at install
# time from the prefix then in force (`cmake --install --prefix`, or cpack's /usr), not from the
# one in the cache.
set(ECUUP_SYSTEMD_UNITDIR lib/systemd/system CACHE STRING
    "Where the systemd units are installed: relative to the install prefix, or absolute")
install(FILES examples/systemd/ecuup-update.timer DESTINATION ${ECUUP_SYSTEMD_UNITDIR}
        PERMISSIONS ${ecuup_file_permissions})
install(CODE "
  set(ecuup_unit_template \"${PROJECT_SOURCE_DIR}/examples/systemd/ecuup-update.service.in\")
  set(ecuup_bindir \"${CMAKE_INSTALL_BINDIR}\")
  set(ecuup_unitdir \"${ECUUP_SYSTEMD_UNITDIR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_systemd_service.cmake\")
")
