import streamlit as st
st.title("ablations")
