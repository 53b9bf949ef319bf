# Install-time half of the systemd service's install rule (cmake/EcuupInstall.cmake): writes
# ecuup-update.service from its template with ExecStart naming ecuup under the prefix this install
# uses. Expects ecuup_unit_template, ecuup_bindir and ecuup_unitdir (relative to the prefix, or
# absolute). DESTDIR (as cpack uses it) stages the file without changing what it names.
foreach(var ecuup_bindir ecuup_unitdir)
  if(NOT IS_ABSOLUTE "${${var}}")
    set(${var} "${CMAKE_INSTALL_PREFIX}/${${var}}")
  endif()
endforeach()
set(ECUUP_UNIT_BINDIR "${ecuup_bindir}")
set(unit "$ENV{DESTDIR}${ecuup_unitdir}/ecuup-update.service")
message(STATUS "Installing: ${unit}")
# The timer's install rule made the directory (0755); NO_SOURCE_PERMISSIONS makes the file 0644.
configure_file("${ecuup_unit_template}" "${unit}" @ONLY NO_SOURCE_PERMISSIONS)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${unit}")
