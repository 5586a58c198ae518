# cmake -DOUT=<file> -DFILES=<a;b;c> -P binaries_sha256.cmake
# Writes OUT in sha256sum format ("<hex>  <basename>" per line), like the Dockerfile does for
# the stripped binaries of the images.
set(text "")
foreach(f IN LISTS FILES)
  file(SHA256 "${f}" digest)
  get_filename_component(name "${f}" NAME)
  string(APPEND text "${digest}  ${name}\n")
endforeach()
file(WRITE "${OUT}.tmp" "${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
