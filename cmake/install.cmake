# Installation layout (DESTDIR-aware through CMake's install()).
include(GNUInstallDirs)
install(TARGETS egressd egressctl RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
